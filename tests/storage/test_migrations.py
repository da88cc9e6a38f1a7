"""Migrations and models never drift apart: upgrading an empty database to head gives
exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.storage.engine import make_engine
from bot.storage.job_tables import is_procrastinate_table
from bot.storage.migrate import upgrade
from bot.storage.models import Base


def test_upgrading_to_head_gives_the_schema_the_models_describe(empty_database):
    upgrade(empty_database)
    engine = make_engine(empty_database)
    with engine.connect() as conn:
        # Procrastinate's job tables (PostgreSQL only) are its own, not Clarion's models.
        context = MigrationContext.configure(
            conn,
            opts={"include_name": lambda name, kind, _: not is_procrastinate_table(name)},
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == [], "models changed without a migration: " + repr(differences)


def test_upgrading_twice_is_harmless(empty_database):
    upgrade(empty_database)
    upgrade(empty_database)
