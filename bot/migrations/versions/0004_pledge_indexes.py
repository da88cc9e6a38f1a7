"""pledges: index by account and by delivery

Without them, deciding whose tokens may be deleted after a release of 11,000 pledges
scanned the pledges table once per supporter (minutes, in the release job's thread).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 13:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_pledges_account", "pledges", ["account_id"])
    op.create_index("ix_pledges_delivery", "pledges", ["delivery_id"])


def downgrade() -> None:
    op.drop_index("ix_pledges_delivery", table_name="pledges")
    op.drop_index("ix_pledges_account", table_name="pledges")
