"""Alembic environment: migrations run from `python main.py init` / `db upgrade`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from bot.storage.engine import make_engine
from bot.storage.job_tables import is_procrastinate_table
from bot.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate leaves Procrastinate's tables (migration 0015) alone."""
    return not (type_ == "table" and is_procrastinate_table(name))


def _run(connection: Connection) -> None:
    # render_as_batch: SQLite cannot ALTER most things; batch mode copies the table.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
