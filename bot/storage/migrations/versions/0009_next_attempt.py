"""deliveries.next_attempt_at: when a delivery is next tried, apart from when it was due

A retry, a rate-limit wait or a check used to move ``due_at`` itself, so the time a post
was due was lost (``deliveries list`` showed the last retry's). Now ``due_at`` keeps it and
the claim reads ``next_attempt_at``, which starts equal to it.

Revision ID: 0009_next_attempt
Revises: 0008_approvals
Create Date: 2026-12-06 04:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.storage.models

revision = "0009_next_attempt"
down_revision = "0008_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("next_attempt_at", bot.storage.models.UTCDateTime(), nullable=True)
        )
    # Whatever a retry had moved ``due_at`` to is when it is next tried; the time it was
    # first due is not recorded anywhere else, so that is all that can be kept.
    op.execute("UPDATE deliveries SET next_attempt_at = due_at")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "next_attempt_at", existing_type=bot.storage.models.UTCDateTime(), nullable=False
        )
        batch_op.create_index(
            "ix_deliveries_state_next", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    # The claim read ``due_at``: an open delivery is next tried when it says.
    op.execute(
        "UPDATE deliveries SET due_at = next_attempt_at "
        "WHERE state IN ('pending', 'sending', 'unknown')"
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_state_next")
        batch_op.drop_column("next_attempt_at")
