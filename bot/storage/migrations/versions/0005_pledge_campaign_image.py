"""pledge_campaigns: the campaign page's picture (bytes, type, alt text, size, sha256)

Stored in the database rather than as a path so the page keeps its picture when the
schedule file's folder moves or the web process runs elsewhere; the sha256 is the
image route's ETag and makes re-applying the same file a no-op.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("image_data", sa.LargeBinary()),
    ("image_type", sa.String(length=20)),
    ("image_alt", sa.Text()),
    ("image_width", sa.Integer()),
    ("image_height", sa.Integer()),
    ("image_sha256", sa.String(length=64)),
)


def upgrade() -> None:
    with op.batch_alter_table("pledge_campaigns") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pledge_campaigns") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
