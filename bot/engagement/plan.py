"""The snapshot plan: when each sent delivery's engagement is recorded, and what is due.

A delivery sent at ``sent_at`` is snapshotted at ``sent_at + offset`` for every offset in
ENGAGEMENT_OFFSETS (default 1 h, 24 h, 7 d, 29 d: the last inside X's 30-day window for
impressions and link clicks), offsets being in the platforms' time (``on_clock``: a
sandbox may run faster than real time). ``deliveries.engagement_stage`` counts the offsets already
taken and ``engagement_next_at`` says when the next one is due, so finding due work is one
indexed range query however many posts were sent. A daemon that was down takes one
snapshot on return, labelled with the latest offset passed, and plans the next one still
in the future: it never takes a burst of stale snapshots.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Dialect,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from bot.engagement import bulk
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, Post, PostKind

logger = logging.getLogger(__name__)

Offsets = Sequence[tuple[str, float]]  # (label, seconds after sending), ascending
REFRESH = "refresh"
# Post.kind of a pledge release's posts: bot.pledges.release writes one post per pledge
# (each supporter's own wording), so a release is many posts of this kind in one campaign.
RELEASE_KIND = PostKind.PLEDGE
DELIVERIES = cast(Table, Delivery.__table__)  # Core, for executemany


class DueItem(NamedTuple):
    """One delivery to read (a NamedTuple: a round may hold 100,000 of them)."""

    delivery_id: int
    post_id: int
    campaign_id: int
    platform: str
    account_id: int
    platform_post_id: str
    sent_at: datetime
    stage: int
    release: bool = False  # one of a pledge release's posts (sampled as one group)


@dataclass(frozen=True)
class AccountKey:
    """An account's sealed token (opened only right before reading) and whether it works."""

    sealed_credentials: str
    active: bool
    platform_user_id: str = ""


def on_clock(offsets: Offsets, acceleration: float) -> tuple[tuple[str, float], ...]:
    """The offsets in real seconds when the platforms' clock runs ``acceleration`` times
    faster than ours (a sandbox's time acceleration; 1 on the real networks).

    A post's age on the platform is what its metrics follow, so on a sandbox at 1000x the
    "7d" snapshot is due 7 days / 1000 (about 10 minutes) after the post went out, and
    keeps its label. Only reading engagement is rescaled: posting times never are.
    """
    if acceleration <= 0:
        raise ValueError("the clock acceleration must be > 0")
    return tuple((label, seconds / acceleration) for label, seconds in offsets)


def clock_note(offsets: Offsets, acceleration: float) -> str:
    """For volunteers: that the sandbox's clock is accelerated, and when the snapshots
    come in real time ("" on a clock that runs at real time)."""
    if acceleration == 1:
        return ""
    real = ", ".join(
        f"{label} after {_duration(seconds)}" for label, seconds in on_clock(offsets, acceleration)
    )
    return (
        f"the sandbox's clock runs {acceleration:g}x faster than real time, so a week of "
        f"engagement passes in {_duration(7 * 86400 / acceleration)}: snapshots {real} "
        "(real time; labels and ages are sandbox time)."
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.3g} s"
    if seconds < 5400:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def stage_at(sent_at: datetime, now: datetime, offsets: Offsets) -> int:
    """How many offsets have come due by ``now``."""
    return sum(1 for _, seconds in offsets if sent_at + timedelta(seconds=seconds) <= now)


def next_at(sent_at: datetime, stage: int, offsets: Offsets) -> datetime | None:
    if stage >= len(offsets):
        return None
    return sent_at + timedelta(seconds=offsets[stage][1])


def label_for(stage: int, offsets: Offsets) -> str:
    return offsets[stage - 1][0] if 0 < stage <= len(offsets) else REFRESH


class _UTCText(TypeDecorator[datetime]):
    """Reads a UTCDateTime column, parsing each distinct stored value once: the
    deliveries of a release share their sent time, and parsing 100,000 SQLite timestamps
    one by one was a visible part of a round."""

    impl = String  # no per-row parsing by the dialect: the raw value comes to us
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)


@lru_cache(maxsize=65536)
def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC)


def due_items(
    session: Session,
    now: datetime,
    offsets: Offsets,
    *,
    campaign: str | None = None,
    refresh: bool = False,
) -> tuple[list[DueItem], dict[int, AccountKey]]:
    """Sent, live deliveries whose next snapshot is due (``refresh``: all of them), and
    the sealed token of each account involved.

    A delivery sent since the last round has no plan yet: it is due if its first offset
    has passed, otherwise it gets its first snapshot time here.
    """
    d = DELIVERIES.c
    conditions = [
        d.state == DeliveryState.SENT,
        d.platform_deleted_at.is_(None),
        d.sent_at.is_not(None),
    ]
    if not refresh:
        unplanned = and_(d.engagement_next_at.is_(None), d.engagement_stage == 0)
        conditions.append(or_(d.engagement_next_at <= now, unplanned))
    query = (
        select(
            d.id,
            d.post_id,
            Post.campaign_id,
            d.platform,
            d.account_id,
            d.platform_ids,
            type_coerce(d.sent_at, _UTCText).label("sent_at"),
            d.engagement_stage,
            d.engagement_next_at.is_(None).label("unplanned"),
            (Post.kind == RELEASE_KIND).label("release"),
        )
        .join(Post, Post.id == d.post_id)
        .where(and_(*conditions))
        .order_by(d.id)
    )
    if campaign is not None:
        query = query.join(Campaign, Campaign.id == Post.campaign_id).where(
            Campaign.slug == campaign
        )
    items = []
    ahead = []
    bind = bulk.binder(session.get_bind().dialect)
    first_offset = offsets[0][1] if offsets else None
    # Core rows, not ORM objects: a round may read 100,000 of them.
    for row in session.connection().execute(query):
        ids = row.platform_ids
        if not ids:
            continue
        if not refresh and row.unplanned:
            if first_offset is None:
                continue
            first = row.sent_at + timedelta(seconds=first_offset)
            if first > now:
                ahead.append((bind(first), row.id))
                continue
        items.append(
            DueItem(
                row.id,
                row.post_id,
                row.campaign_id,
                row.platform,
                row.account_id,
                str(ids[0]),  # a thread is measured by its first post
                row.sent_at,
                row.engagement_stage,
                bool(row.release),
            )
        )
    bulk.update_many(session, "deliveries", ("engagement_next_at",), ahead)
    account_ids = sorted({item.account_id for item in items})
    accounts: dict[int, AccountKey] = {}
    for start in range(0, len(account_ids), 500):
        chunk = account_ids[start : start + 500]
        for account in session.execute(
            select(Account.id, Account.credentials, Account.status, Account.platform_user_id).where(
                Account.id.in_(chunk)
            )
        ):
            accounts[account.id] = AccountKey(
                account.credentials, account.status == "active", account.platform_user_id
            )
    return items, accounts


def release_sizes(session: Session, campaign_ids: Collection[int]) -> dict[tuple[int, str], int]:
    """How many posts each campaign's pledge release has on each platform: sent or still
    going, not deleted since. A release goes out over a window, so its snapshots come due
    over several rounds; a round samples its share of the release (``sampling.round_size``)."""
    if not campaign_ids:
        return {}
    d = DELIVERIES.c
    query = (
        select(Post.campaign_id, d.platform, func.count())
        .join(Post, Post.id == d.post_id)
        .where(
            Post.campaign_id.in_(sorted(campaign_ids)),
            Post.kind == RELEASE_KIND,
            d.state.in_((DeliveryState.SENT, *DeliveryState.OPEN)),
            d.platform_deleted_at.is_(None),
        )
        .group_by(Post.campaign_id, d.platform)
    )
    return {(cid, platform): n for cid, platform, n in session.execute(query)}


def advance(session: Session, items: Sequence[DueItem], now: datetime, offsets: Offsets) -> None:
    """Move each item to the first offset still ahead of ``now``."""
    if not items:
        return
    bind = bulk.binder(session.get_bind().dialect)
    planned: dict[tuple[datetime, int], tuple[int, Any]] = {}  # releases share a sent_at
    rows = []
    for item in items:
        key = (item.sent_at, item.stage)
        if key not in planned:
            stage = max(item.stage, stage_at(item.sent_at, now, offsets))
            planned[key] = (stage, bind(next_at(item.sent_at, stage, offsets)))
        rows.append((*planned[key], item.delivery_id))
    bulk.update_many(session, "deliveries", ("engagement_stage", "engagement_next_at"), rows)


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


def without_token(
    items: list[DueItem], accounts: Mapping[int, AccountKey]
) -> tuple[list[DueItem], list[DueItem]]:
    """Split off Facebook posts whose Page token was deleted (a supporter's, after their
    pledge's engagement window or with PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT=false): Graph
    answers a Page's posts only to that Page's token, so they can never be read again and
    are moved along their plan without a snapshot instead of failing every round. A token
    that is there but refused (needs reconnecting) stays due: it may come back."""
    keep: list[DueItem] = []
    gone: list[DueItem] = []
    for item in items:
        tokenless = item.platform == "facebook" and not accounts[item.account_id].sealed_credentials
        (gone if tokenless else keep).append(item)
    if gone:
        logger.info("%s Facebook posts skipped: their Page's token was deleted", len(gone))
    return keep, gone
