"""Procrastinate's job tables, on PostgreSQL only: the queue that wakes scale-out workers

The scheduler role (``run --role scheduler``) defers one Procrastinate job per due time and
the workers (``run --role worker``) run them; the ledger stays the truth. SQLite, which
never runs those roles, gets nothing. The schema is Procrastinate's own
(``procrastinate.schema.SchemaManager.get_schema``, the installed version's
``sql/schema.sql``); a later Procrastinate version brings its own migrations
(https://procrastinate.readthedocs.io/en/stable/howto/production/migrations.html).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
        return  # already there (a database restored from a dump, an earlier attempt)
    from procrastinate.schema import SchemaManager

    # The driver's own cursor, without parameters: the schema is many statements, with
    # colons and percent signs that SQLAlchemy's text() and paramstyles would misread.
    bind.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from bot.storage.job_tables import DROP_SCHEMA

    bind.connection.driver_connection.execute(DROP_SCHEMA)  # type: ignore[union-attr]
