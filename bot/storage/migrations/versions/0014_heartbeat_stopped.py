"""daemon_heartbeat.stopped_at: a daemon stopped cleanly says so at once

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("daemon_heartbeat", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("stopped_at", bot.storage.models.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("daemon_heartbeat", schema=None) as batch_op:
        batch_op.drop_column("stopped_at")
