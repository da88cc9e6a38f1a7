"""pledges: index by account and by delivery; deliveries: uncertain_since

Without the indexes, deciding whose tokens may be deleted after a release of 11,000
pledges scanned the pledges table once per supporter (minutes, in the release job's
thread). ``uncertain_since`` is when the attempt whose outcome is unknown started: a
retry's lost answer must not be judged by the first attempt's time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 13:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(
            sa.Column("uncertain_since", bot.storage.models.UTCDateTime(), nullable=True)
        )
    op.create_index("ix_pledges_account", "pledges", ["account_id"])
    op.create_index("ix_pledges_delivery", "pledges", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_pledges_delivery", table_name="pledges")
    op.drop_index("ix_pledges_account", table_name="pledges")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("uncertain_since")
