"""The release: every live pledge becomes one Post and its one Delivery, due at
``release_at`` (plus its place in the spread window). The release is written PREPARE
(10 s) before its time, when pledging closes, so the daemon has planned every delivery
when the moment comes.

The ledger's unit is a delivery (post × account) and the text lives on the post, so each
pledge gets its own post (kind ``pledge``, key ``pledge-<id>``) with that supporter's
wording. Everything is written in one transaction that starts by moving the campaign
``open → releasing`` with a conditional UPDATE: if the row count is not 1 another process
released it first and nothing is written, so a release can never be created twice. The
daemon's sync then sends the deliveries through the normal ledger (exactly once, retries,
rate gates); ``settle`` afterwards reflects revoked tokens onto the pledges and marks the
campaign released when every delivery is final.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.outcomes import ErrorKind
from bot.platforms import PLATFORM_LABELS
from bot.pledges import limits, texts
from bot.pledges.pledging import LIVE, PREPARE, forget_supporters
from bot.storage.models import (
    Account,
    Delivery,
    DeliveryState,
    GoalPolicy,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
    Post,
    PostKind,
    PostState,
)

logger = logging.getLogger(__name__)


@dataclass
class ReleaseOutcome:
    slug: str
    state: str  # releasing | goal_missed | "" (not ours: released elsewhere or not due)
    pledged: int = 0
    posts: int = 0
    skipped: int = 0  # needs-reconnect pledges left out
    notes: list[str] = field(default_factory=list)


def spread(count: int, window_minutes: int, rng: random.Random) -> list[float]:
    """Offsets in seconds for ``count`` posts over the window: one per equal slot, at a
    random point inside it (jitter), so the posts are spread evenly but not on a grid.
    Window 0: every offset is 0 (all at once)."""
    if window_minutes <= 0 or count == 0:
        return [0.0] * count
    slot = window_minutes * 60 / count
    return [(i + rng.random()) * slot for i in range(count)]


def plan_offsets(
    ready: list[Pledge],
    handles: dict[int, str],
    window_minutes: int,
    rng: random.Random,
    budgets: limits.Budgets = limits.DEFAULT_BUDGETS,
) -> tuple[list[float], list[limits.Duration]]:
    """Each pledge's offset in seconds from the release time, in ``ready``'s order, and
    the networks whose limits need longer than the window. Those networks' posts are
    spread over what their limit needs (bot.pledges.limits); every other network's share
    the window as before, interleaved in ``ready``'s order."""
    by_platform: dict[str, list[int]] = {}
    for i, pledge in enumerate(ready):
        by_platform.setdefault(pledge.platform, []).append(i)
    stretched = [
        d
        for d in limits.durations(
            {
                p: [handles.get(ready[i].account_id or 0, "") for i in idx]
                for p, idx in by_platform.items()
            },
            window_minutes,
            budgets,
        )
        if d.stretched
    ]
    apart = {d.platform for d in stretched}
    offsets = [0.0] * len(ready)
    together = [i for i, p in enumerate(ready) if p.platform not in apart]
    for i, offset in zip(together, spread(len(together), window_minutes, rng), strict=True):
        offsets[i] = offset
    for d in stretched:
        idx = by_platform[d.platform]
        for i, offset in zip(idx, spread(len(idx), d.minutes, rng), strict=True):
            offsets[i] = offset
    return offsets, stretched


def due_campaigns(session: Session, now: datetime) -> list[int]:
    return list(
        session.scalars(
            select(PledgeCampaign.id).where(
                PledgeCampaign.state == PledgeCampaignState.OPEN,
                PledgeCampaign.release_at <= now + PREPARE,
            )
        )
    )


def _claim(session: Session, pc_id: int, to_state: str, now: datetime) -> bool:
    """open → ``to_state`` if still open and due; the row count says who won."""
    won = session.execute(
        update(PledgeCampaign)
        .where(
            PledgeCampaign.id == pc_id,
            PledgeCampaign.state == PledgeCampaignState.OPEN,
            PledgeCampaign.release_at <= now + PREPARE,
        )
        .values(state=to_state, released_at=now, updated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return bool(won == 1)


def release(
    session: Session,
    pc_id: int,
    now: datetime,
    rng: random.Random | None = None,
    budgets: limits.Budgets = limits.DEFAULT_BUDGETS,
) -> ReleaseOutcome:
    """Release one campaign if it is due and still open; commits. Safe to call from
    several processes at once: exactly one of them writes the release. ``budgets``: the
    per-address limits its Bluesky and Mastodon posts are spread to stay under."""
    rng = rng or random.Random()
    pc = session.get(PledgeCampaign, pc_id)
    if pc is None:
        return ReleaseOutcome(slug="?", state="")
    slug = pc.campaign.slug
    outcome = ReleaseOutcome(slug=slug, state="")
    # Claim first, read the pledges after: a withdraw requires the campaign to be open,
    # so none can slip in between the count and the posts written from it.
    if not _claim(session, pc_id, PledgeCampaignState.RELEASING, now):
        session.rollback()
        return outcome
    pledges = list(
        session.scalars(
            select(Pledge)
            .where(Pledge.pledge_campaign_id == pc_id, Pledge.state.in_(LIVE))
            .order_by(Pledge.id)
        )
    )
    outcome.pledged = len(pledges)
    if pc.goal_policy == GoalPolicy.ALL_OR_NOTHING and len(pledges) < pc.goal:
        session.execute(
            update(PledgeCampaign)
            .where(PledgeCampaign.id == pc_id)
            .values(state=PledgeCampaignState.GOAL_MISSED)
        )
        forget_supporters(session, pc_id)
        session.commit()
        outcome.state = PledgeCampaignState.GOAL_MISSED
        logger.warning(
            "pledge campaign %s: goal missed (%s of %s pledged, all-or-nothing); nothing is posted",
            slug,
            len(pledges),
            pc.goal,
        )
        return outcome
    outcome.state = PledgeCampaignState.RELEASING
    ready = [p for p in pledges if p.state == PledgeState.ACTIVE and p.account_id is not None]
    outcome.skipped = len(pledges) - len(ready)
    rng.shuffle(ready)  # who goes first in a spread window is left to chance
    handles = dict(
        session.execute(
            select(Account.id, Account.handle).where(Account.id.in_([p.account_id for p in ready]))
        ).all()
    )
    offsets, stretched = plan_offsets(ready, handles, pc.window_minutes, rng, budgets)
    outcome.notes += [limits.sentence(d, PLATFORM_LABELS, pc.window_minutes) for d in stretched]
    rows: list[dict[str, Any]] = []
    for pledge, offset in zip(ready, offsets, strict=True):
        link = texts.tagged_link(pc, pledge.platform)
        text = texts.base_text(pc, pledge.platform, pledge.variant, pledge.wording)
        rows.append(
            {
                "campaign_id": pc.campaign_id,
                "key": f"pledge-{pledge.id}",
                "kind": PostKind.PLEDGE,
                "parts": {pledge.platform: [text]},
                "link": link,
                # Each pledge has its own post, so the post's own time is its slot: the
                # engine measures lateness (MISSED_GRACE_MINUTES) from Post.scheduled_at,
                # and a slot 40 minutes into the window is not 40 minutes late.
                "scheduled_at": pc.release_at + timedelta(seconds=offset),
                "timezone": pc.timezone,
                "targets": [f"{pledge.platform}:@{handles.get(pledge.account_id or 0, '')}"],
                "hold_on_facebook": False,
                "state": PostState.SCHEDULED,
                "source": f"pledge campaign {slug}",
                "created_at": now,
                "updated_at": now,
            }
        )
    # Bulk INSERT … RETURNING (one statement per batch on SQLite and PostgreSQL): a
    # release of 11,000 pledges is written in about a second instead of 11,000 flushes.
    post_ids = _insert_returning(session, Post, rows) if rows else []
    delivery_rows: list[dict[str, Any]] = [
        {
            "post_id": post_id,
            "account_id": pledge.account_id,
            "platform": pledge.platform,
            "state": DeliveryState.PENDING,
            "due_at": pc.release_at + timedelta(seconds=offset),
            "next_attempt_at": pc.release_at + timedelta(seconds=offset),
            "attempts": 0,
            "parts_done": 0,
            "platform_ids": [],
            "created_at": now,
            "updated_at": now,
        }
        for pledge, post_id, offset in zip(ready, post_ids, offsets, strict=True)
    ]
    delivery_ids = _insert_returning(session, Delivery, delivery_rows) if delivery_rows else []
    if ready:
        session.execute(
            update(Pledge),
            [{"id": p.id, "delivery_id": d} for p, d in zip(ready, delivery_ids, strict=True)],
        )
    session.commit()
    outcome.posts = len(ready)
    if outcome.skipped:
        outcome.notes.append(
            f"{outcome.skipped} pledges need reconnecting and were left out of the release"
        )
    logger.info(
        "pledge campaign %s released: %s posts over %s minutes (%s by platform)%s%s",
        slug,
        len(ready),
        pc.window_minutes,
        dict(Counter(p.platform for p in ready)),
        f"; {outcome.skipped} left out (need reconnecting)" if outcome.skipped else "",
        "".join(f"; {d.platform} over {d.minutes} minutes (its limits need it)" for d in stretched),
    )
    return outcome


def _insert_returning(
    session: Session, model: type[Post] | type[Delivery], rows: list[dict[str, Any]]
) -> list[int]:
    ids: list[int] = []
    # keep each statement's parameter count well under SQLite's limit
    for start in range(0, len(rows), 500):
        batch = rows[start : start + 500]
        result = session.execute(
            insert(model).returning(model.id, sort_by_parameter_order=True), batch
        )
        ids.extend(int(row[0]) for row in result)
    return ids


def campaign_deliveries(pc_id: int) -> Any:
    """The ids of a campaign's release deliveries, as a subquery."""
    return select(Pledge.delivery_id).where(
        Pledge.pledge_campaign_id == pc_id, Pledge.delivery_id.is_not(None)
    )


def cancel_pending(session: Session, pc_id: int, now: datetime) -> int:
    """Cancel the campaign's deliveries not yet started, and mark the posts of all its
    unsent deliveries cancelled; does not commit. Each UPDATE is conditional on the row's
    state at that moment: the dispatcher claims ``pending → sending`` with its own
    conditional UPDATE (bot.delivery.statements.CLAIM), so a delivery is either claimed
    (and finishes as the ledger's exactly-once rules say) or cancelled here, never both.
    A claimed delivery whose post is cancelled and that comes back for a retry is stopped
    when claimed again (the job reads its post's state) or by the next settle."""
    mine = campaign_deliveries(pc_id)
    stopped = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(mine), Delivery.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.CANCELLED,
            error="the release was stopped before this post started",
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(Post)
        .where(
            Post.id.in_(
                select(Delivery.post_id).where(
                    Delivery.id.in_(mine), Delivery.state != DeliveryState.SENT
                )
            ),
            Post.state != PostState.CANCELLED,
        )
        .values(state=PostState.CANCELLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(stopped or 0)


# A release ends in the state that says how it went: every post final, stopped or not.
SETTLES_TO = {
    PledgeCampaignState.RELEASING: PledgeCampaignState.RELEASED,
    PledgeCampaignState.STOPPING: PledgeCampaignState.STOPPED,
}


def settle(session: Session, pc_id: int, now: datetime) -> bool:
    """After a release: pledges whose delivery failed on a rejected token are marked
    needs-reconnect; when every delivery is final the campaign becomes ``released`` (or
    ``stopped``, when an approver stopped it: then a delivery that came back for a retry
    is cancelled here too). Returns True when the campaign was marked final by this call;
    commits."""
    state = session.scalar(select(PledgeCampaign.state).where(PledgeCampaign.id == pc_id))
    if state not in SETTLES_TO:
        session.rollback()
        return False
    if state == PledgeCampaignState.STOPPING:
        cancel_pending(session, pc_id, now)
    auth_failed = select(Delivery.id).where(
        Delivery.state == DeliveryState.FAILED, Delivery.error_kind == ErrorKind.AUTH
    )
    to_mark = (
        Pledge.pledge_campaign_id == pc_id,
        Pledge.state == PledgeState.ACTIVE,
        Pledge.delivery_id.in_(auth_failed),
    )
    # Read first, write only when there is something to mark: this runs every second
    # during a release, and on SQLite every write takes the one writer lock the
    # deliveries need.
    if session.scalar(select(func.count()).select_from(Pledge).where(*to_mark)):
        session.execute(
            update(Pledge)
            .where(*to_mark)
            .values(
                state=PledgeState.NEEDS_RECONNECT,
                state_reason="the platform rejected the token at the release",
            )
        )
    open_left = session.scalar(
        select(func.count())
        .select_from(Pledge)
        .join(Delivery, Pledge.delivery_id == Delivery.id)
        .where(Pledge.pledge_campaign_id == pc_id, Delivery.state.in_(DeliveryState.OPEN))
    )
    done = False
    if not open_left:
        done = bool(
            session.execute(
                update(PledgeCampaign)
                .where(PledgeCampaign.id == pc_id, PledgeCampaign.state == state)
                .values(state=SETTLES_TO[PledgeCampaignState(state)], updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            == 1
        )
        if done:
            forget_supporters(session, pc_id)
    session.commit()
    return done


def releasing_campaigns(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(PledgeCampaign.id).where(PledgeCampaign.state.in_(PledgeCampaignState.GOING_OUT))
        )
    )


def run_due(
    sessions: sessionmaker[Session],
    now: datetime,
    budgets: limits.Budgets = limits.DEFAULT_BUDGETS,
) -> list[ReleaseOutcome]:
    """The daemon's periodic job: release what is due, settle what is going out."""
    outcomes = []
    with sessions() as session:
        for pc_id in due_campaigns(session, now):
            try:
                outcomes.append(release(session, pc_id, now, budgets=budgets))
            except Exception:  # one campaign's failure must not block the others
                session.rollback()
                logger.exception("pledge campaign %s: the release failed", pc_id)
    with sessions() as session:
        for pc_id in releasing_campaigns(session):
            if settle(session, pc_id, now):
                pc = session.get(PledgeCampaign, pc_id)
                logger.info("pledge campaign %s: every post is final", pc and pc.campaign.slug)
    return outcomes


@dataclass(frozen=True)
class ReleaseStatus:
    slug: str
    state: str
    release_at: datetime
    total: int
    by_state: dict[str, int]
    by_platform: dict[str, dict[str, int]]
    needs_reconnect: int
    last_sent_at: datetime | None

    @property
    def done(self) -> int:
        return sum(n for s, n in self.by_state.items() if s in DeliveryState.FINAL)

    @property
    def sent(self) -> int:
        return self.by_state.get(DeliveryState.SENT, 0)


def status(session: Session, pc: PledgeCampaign) -> ReleaseStatus:
    """Where the release stands, read from the deliveries."""
    rows = session.execute(
        select(Delivery.platform, Delivery.state, func.count(), func.max(Delivery.sent_at))
        .join(Pledge, Pledge.delivery_id == Delivery.id)
        .where(Pledge.pledge_campaign_id == pc.id)
        .group_by(Delivery.platform, Delivery.state)
    ).all()
    by_state: Counter[str] = Counter()
    by_platform: dict[str, dict[str, int]] = {}
    last: datetime | None = None
    for platform, state, count, sent_at in rows:
        by_state[state] += int(count)
        by_platform.setdefault(platform, {})[state] = int(count)
        if sent_at is not None:
            # SQLite's MAX() returns text; the column type does not apply to aggregates
            moment = sent_at if isinstance(sent_at, datetime) else datetime.fromisoformat(sent_at)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=pc.release_at.tzinfo)
            last = moment if last is None or moment > last else last
    reconnect = session.scalar(
        select(func.count()).where(
            Pledge.pledge_campaign_id == pc.id, Pledge.state == PledgeState.NEEDS_RECONNECT
        )
    )
    return ReleaseStatus(
        slug=pc.campaign.slug,
        state=pc.state,
        release_at=pc.release_at,
        total=sum(by_state.values()),
        by_state=dict(by_state),
        by_platform=by_platform,
        needs_reconnect=int(reconnect or 0),
        last_sent_at=last,
    )
