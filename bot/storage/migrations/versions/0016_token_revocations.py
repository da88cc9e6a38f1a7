"""token_revocations: supporters' deleted tokens still to be revoked at their network

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("queued_at", bot.storage.models.UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", bot.storage.models.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_token_revocations_next_attempt_at"),
        "token_revocations",
        ["next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_token_revocations_next_attempt_at"), table_name="token_revocations")
    op.drop_table("token_revocations")
