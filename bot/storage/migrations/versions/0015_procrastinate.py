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

from alembic import op

from bot.storage.job_tables import drop_schema, ensure_schema

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    ensure_schema(op.get_bind())


def downgrade() -> None:
    drop_schema(op.get_bind())
