"""The snapshot plan: when each sent delivery's engagement is recorded, and what is due.

A delivery sent at ``sent_at`` is snapshotted at ``sent_at + offset`` for every offset in
ENGAGEMENT_OFFSETS (default 1 h, 24 h, 7 d, 29 d: the last inside X's 30-day window for
impressions and link clicks). ``deliveries.engagement_stage`` counts the offsets already
taken and ``engagement_next_at`` says when the next one is due, so finding due work is one
indexed range query however many posts were sent. A daemon that was down takes one
snapshot on return, labelled with the latest offset passed, and plans the next one still
in the future: it never takes a burst of stale snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, and_, bindparam, select, update
from sqlalchemy.orm import Session

from bot.db.models import Account, Campaign, Delivery, DeliveryState, Post

Offsets = Sequence[tuple[str, int]]  # (label, seconds after sending), ascending
REFRESH = "refresh"
DELIVERIES = cast(Table, Delivery.__table__)  # Core, for executemany


@dataclass(frozen=True)
class DueItem:
    """One delivery to read, with what the read needs (ids only; tokens stay sealed)."""

    delivery_id: int
    post_id: int
    campaign_id: int
    platform: str
    account_id: int
    platform_post_id: str
    sent_at: datetime
    stage: int
    sealed_credentials: str
    account_active: bool


def stage_at(sent_at: datetime, now: datetime, offsets: Offsets) -> int:
    """How many offsets have come due by ``now``."""
    return sum(1 for _, seconds in offsets if sent_at + timedelta(seconds=seconds) <= now)


def next_at(sent_at: datetime, stage: int, offsets: Offsets) -> datetime | None:
    if stage >= len(offsets):
        return None
    return sent_at + timedelta(seconds=offsets[stage][1])


def label_for(stage: int, offsets: Offsets) -> str:
    return offsets[stage - 1][0] if 0 < stage <= len(offsets) else REFRESH


def plan_new(session: Session, offsets: Offsets) -> int:
    """Give every newly sent delivery its first snapshot time; returns how many."""
    d = DELIVERIES.c
    rows = session.execute(
        select(d.id, d.sent_at).where(
            d.state == DeliveryState.SENT,
            d.engagement_next_at.is_(None),
            d.engagement_stage == 0,
            d.platform_deleted_at.is_(None),
            d.sent_at.is_not(None),
        )
    ).all()
    if not rows or not offsets:
        return 0
    params = [{"b_id": row.id, "b_next": next_at(row.sent_at, 0, offsets)} for row in rows]
    session.execute(
        update(DELIVERIES)
        .where(d.id == bindparam("b_id"))
        .values(engagement_next_at=bindparam("b_next")),
        params,
        execution_options={"synchronize_session": False},
    )
    return len(rows)


def due_items(
    session: Session, now: datetime, *, campaign: str | None = None, refresh: bool = False
) -> list[DueItem]:
    """Sent, not deleted deliveries whose next snapshot is due (``refresh``: all of them)."""
    d = DELIVERIES.c
    conditions = [
        d.state == DeliveryState.SENT,
        d.platform_deleted_at.is_(None),
        d.sent_at.is_not(None),
    ]
    if not refresh:
        conditions.append(d.engagement_next_at <= now)
    query = (
        select(
            d.id,
            d.post_id,
            Post.campaign_id,
            d.platform,
            d.account_id,
            d.platform_ids,
            d.sent_at,
            d.engagement_stage,
            Account.credentials,
            Account.status,
        )
        .join(Post, Post.id == d.post_id)
        .join(Account, Account.id == d.account_id)
        .where(and_(*conditions))
        .order_by(d.id)
    )
    if campaign is not None:
        query = query.join(Campaign, Campaign.id == Post.campaign_id).where(
            Campaign.slug == campaign
        )
    items = []
    for row in session.execute(query):
        ids = row.platform_ids or []
        if not ids:
            continue
        items.append(
            DueItem(
                delivery_id=row.id,
                post_id=row.post_id,
                campaign_id=row.campaign_id,
                platform=row.platform,
                account_id=row.account_id,
                platform_post_id=str(ids[0]),  # a thread is measured by its first post
                sent_at=row.sent_at,
                stage=row.engagement_stage,
                sealed_credentials=row.credentials,
                account_active=row.status == "active",
            )
        )
    return items


def advance(session: Session, items: Sequence[DueItem], now: datetime, offsets: Offsets) -> None:
    """Move each item to the first offset still ahead of ``now``."""
    if not items:
        return
    d = DELIVERIES.c
    params = []
    for item in items:
        stage = max(item.stage, stage_at(item.sent_at, now, offsets))
        params.append(
            {
                "b_id": item.delivery_id,
                "b_stage": stage,
                "b_next": next_at(item.sent_at, stage, offsets),
            }
        )
    session.execute(
        update(DELIVERIES)
        .where(d.id == bindparam("b_id"))
        .values(engagement_stage=bindparam("b_stage"), engagement_next_at=bindparam("b_next")),
        params,
        execution_options={"synchronize_session": False},
    )


def mark_deleted(session: Session, delivery_ids: Sequence[int], now: datetime) -> None:
    """The platform says these posts are gone: record it and stop polling them."""
    if not delivery_ids:
        return
    d = DELIVERIES.c
    session.execute(
        update(DELIVERIES)
        .where(d.id == bindparam("b_id"))
        .values(platform_deleted_at=bindparam("b_at"), engagement_next_at=None),
        [{"b_id": i, "b_at": now} for i in delivery_ids],
        execution_options={"synchronize_session": False},
    )
