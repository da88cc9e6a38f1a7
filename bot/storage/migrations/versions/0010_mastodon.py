"""mastodon: the app Clarion registers on each instance, and an account's own length limit

Revision ID: 0010_mastodon
Revises: 0009_next_attempt
Create Date: 2026-12-06 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0010_mastodon"
down_revision = "0009_next_attempt"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mastodon_apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server", sa.String(length=300), nullable=False),
        sa.Column("redirect_uri", sa.String(length=1000), nullable=False),
        sa.Column("scopes", sa.String(length=300), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("client_secret", sa.Text(), nullable=False),
        sa.Column("created_at", bot.storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server", "redirect_uri", "scopes"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("max_length", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("max_length")
    op.drop_table("mastodon_apps")
