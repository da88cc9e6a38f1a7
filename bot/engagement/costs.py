"""What reading X metrics costs, and the per-campaign cap.

X's pay-per-use pricing (docs.x.com/x-api/getting-started/pricing, Feb 2026; see
/work/shared/contracts/README.md) charges X_READ_COST_USD ($0.005) for reading a post,
once per post per UTC day: reading the same post twice on one UTC day costs once. So the
cost of a snapshot plan is, per X post, the number of distinct UTC days its snapshots
fall on. Facebook reads are free (rate-limited only).

``x_read_days`` remembers which post was read on which day: it is both what was spent
and what a further read today would cost nothing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.engagement import bulk
from bot.engagement.plan import RELEASE_KIND, Offsets
from bot.storage.models import Delivery, DeliveryState, EngagementPolicy, Post, XReadDay

_PLANNED = (DeliveryState.SENT, *DeliveryState.OPEN)


@dataclass(frozen=True)
class Projection:
    """The X read cost of a campaign's snapshot plan."""

    x_posts: int
    reads: int  # billable reads (distinct post-days) for the whole plan
    cost_usd: float
    spent_usd: float
    per_offset: list[tuple[str, int]] = field(default_factory=list)  # label, reads
    sampled_releases: int = 0


def utc_day(moment: datetime) -> str:
    return moment.date().isoformat()


def policy_for(session: Session, campaign_id: int) -> EngagementPolicy | None:
    return session.get(EngagementPolicy, campaign_id)


def spent_usd(session: Session, campaign_id: int, cost_per_read: float) -> float:
    count = session.scalar(
        select(func.count()).select_from(XReadDay).where(XReadDay.campaign_id == campaign_id)
    )
    return int(count or 0) * cost_per_read


def read_today(session: Session, day: str, campaign_ids: Iterable[int]) -> set[int]:
    """Deliveries already read (billed) on ``day``: reading them again is free."""
    ids = list(set(campaign_ids))
    if not ids:
        return set()
    rows = session.scalars(
        select(XReadDay.delivery_id).where(XReadDay.day == day, XReadDay.campaign_id.in_(ids))
    )
    return set(rows)


def record_reads(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert (delivery_id, day, campaign_id) rows, ignoring ones another process wrote
    (ON CONFLICT DO NOTHING: the same words on SQLite and PostgreSQL)."""
    bulk.insert_many(
        session,
        "x_read_days",
        ("delivery_id", "day", "campaign_id"),
        [(r["delivery_id"], r["day"], r["campaign_id"]) for r in rows],
        suffix="ON CONFLICT DO NOTHING",
    )


def allowance(cap_usd: float | None, spent: float, cost_per_read: float) -> int | None:
    """How many more billable reads the cap allows (None: no cap)."""
    if cap_usd is None:
        return None
    if cost_per_read <= 0:
        return None
    return max(0, math.floor((cap_usd - spent) / cost_per_read + 1e-9))


def project(
    session: Session,
    campaign_id: int,
    offsets: Offsets,
    cost_per_read: float,
    sample_size: int | None = None,
) -> Projection:
    """Projected X read cost of every planned snapshot of the campaign's X posts (sent or
    still to send), with releases larger than ``sample_size`` read as samples."""
    d = Delivery.__table__.c
    rows = session.execute(
        select(d.post_id, d.sent_at, d.due_at, (Post.kind == RELEASE_KIND).label("release"))
        .join(Post, Post.id == d.post_id)
        .where(
            Post.campaign_id == campaign_id,
            d.platform == "x",
            d.state.in_(_PLANNED),
            d.platform_deleted_at.is_(None),
        )
    ).all()
    # A pledge release (one post per pledge) is sampled as one group, as the poller does.
    by_post: dict[Hashable, list[datetime]] = defaultdict(list)
    for row in rows:
        by_post["release" if row.release else row.post_id].append(row.sent_at or row.due_at)
    reads = 0
    per_offset = dict.fromkeys((label for label, _ in offsets), 0)
    sampled = 0
    for bases in by_post.values():
        n = len(bases)
        if sample_size and n > sample_size:
            sampled += 1
            # A fresh sample per snapshot: every snapshot is billed, up to N posts.
            for label, _ in offsets:
                per_offset[label] += sample_size
                reads += sample_size
            continue
        for base in bases:
            days: set[date] = set()
            for label, seconds in offsets:
                day = (base + timedelta(seconds=seconds)).date()
                if day not in days:
                    days.add(day)
                    per_offset[label] += 1
            reads += len(days)
    return Projection(
        x_posts=len(rows),
        reads=reads,
        cost_usd=reads * cost_per_read,
        spent_usd=spent_usd(session, campaign_id, cost_per_read),
        per_offset=list(per_offset.items()),
        sampled_releases=sampled,
    )
