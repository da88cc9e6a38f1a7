"""limit_windows and rate_gates: rate limits counted in the database for scaled-out workers

Plain tables, made on SQLite too (where only the single-process daemon runs and they stay
empty) so that every database has the schema the models describe.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 07:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "limit_windows",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", bot.storage.models.UTCDateTime(), nullable=False),
        sa.Column("cap", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start"),
    )
    op.create_table(
        "rate_gates",
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("until", bot.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "account_id"),
    )


def downgrade() -> None:
    op.drop_table("rate_gates")
    op.drop_table("limit_windows")
