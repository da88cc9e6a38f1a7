"""deliveries.record_key: the client-chosen record key (Bluesky), fixed before sending

Revision ID: 0011
Revises: 0010_mastodon
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010_mastodon"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this were for platforms that never read it.
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_key", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("record_key")
