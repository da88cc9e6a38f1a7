"""Detection: new rows in the database become alert events, each exactly once.

Each detector reads with a cursor kept in ``alert_cursors`` (from its last scan, less a
margin for transactions that committed late with an earlier timestamp, never before
alerts were first watched) and skips what already has an event; the event's unique
``key`` settles a race between two watchers. So a restart neither resends nor forgets,
and nothing in here touches posting: the delivery engine writes its rows as it always
does and never waits for us.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from bot.alerts.events import AlertKind
from bot.campaigns.embargo import COVER
from bot.delivery import heartbeat
from bot.platforms import PLATFORM_LABELS
from bot.storage.models import (
    Account,
    AccountStatus,
    AlertCursor,
    AlertEvent,
    Delivery,
    DeliveryState,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    Post,
    PostState,
)

logger = logging.getLogger(__name__)

PLATFORM_NAMES = dict(PLATFORM_LABELS)  # every registered platform
# Why a delivery failed, in the words an organiser reads (Delivery.error_kind).
REASONS = {
    "auth": "token rejected",
    "permanent": "refused by the platform",
    "transient": "kept failing with temporary errors",
    "unknown": "outcome unknown",
    "missed": "not sent in time",
}
INSERT_BATCH = 500


@dataclass(frozen=True)
class NewEvent:
    key: str
    kind: AlertKind
    campaign_id: int | None
    subject_id: int | None
    occurred_at: datetime
    platform: str | None = None
    reason: str = ""
    detail: str = ""


class Detector(Protocol):
    name: str

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]: ...


def platform_name(platform: str | None) -> str:
    return PLATFORM_NAMES.get(platform or "", platform or "")


def excerpt(text: str, limit: int = 60) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def local_time(moment: datetime, timezone: str) -> str:
    """A time as the campaign reads it, with its zone named."""
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


class DeliveryOutcomes:
    """Deliveries that became ``failed`` or ``missed``."""

    name = "deliveries"
    KINDS = {
        DeliveryState.FAILED: AlertKind.DELIVERY_FAILED,
        DeliveryState.MISSED: AlertKind.DELIVERY_MISSED,
    }

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]:
        events = []
        for state, kind in self.KINDS.items():
            seen = exists().where(
                AlertEvent.kind == kind.value, AlertEvent.subject_id == Delivery.id
            )
            rows = session.execute(
                select(
                    Delivery.id,
                    Delivery.platform,
                    Delivery.error,
                    Delivery.error_kind,
                    Delivery.due_at,
                    Delivery.updated_at,
                    Post.campaign_id,
                    Post.parts,
                    Post.timezone,
                    Post.embargoed,
                    Post.scheduled_at,
                    Account.handle,
                )
                .join(Post, Post.id == Delivery.post_id)
                .join(Account, Account.id == Delivery.account_id)
                .where(Delivery.state == state, Delivery.updated_at > since, ~seen)
                .order_by(Delivery.updated_at, Delivery.id)
            ).all()
            for row in rows:
                texts = (row.parts or {}).get(row.platform) or [""]
                if row.embargoed:
                    # An alert leaves the console for mailboxes and chat rooms, past
                    # who may read a statement: an embargoed one is named by its cover.
                    texts = [f"{COVER}, {local_time(row.scheduled_at, row.timezone)}"]
                reason = REASONS.get(row.error_kind or "", row.error_kind or "")
                error = excerpt(row.error or "", 200)
                events.append(
                    NewEvent(
                        key=f"{kind.value}:{row.id}",
                        kind=kind,
                        campaign_id=row.campaign_id,
                        subject_id=row.id,
                        occurred_at=row.updated_at,
                        platform=row.platform,
                        reason=reason,
                        detail=(
                            f"“{excerpt(texts[0])}” on {platform_name(row.platform)} "
                            f"@{row.handle}, due {local_time(row.due_at, row.timezone)}"
                            + (f": {error}" if error else "")
                        ),
                    )
                )
        return events


class AccountsNeedingReconnect:
    """Accounts whose token stopped working (accounts.status). One event per episode: an
    account that is reconnected closes its event, and a later failure opens a new one.

    A supporter's account belongs to the pledge campaigns it is pledged to; the
    campaign's own accounts serve every campaign, so their event has no campaign."""

    name = "accounts"
    kind = AlertKind.ACCOUNT_NEEDS_RECONNECT

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]:
        open_events = dict(
            session.execute(
                select(AlertEvent.subject_id, AlertEvent.id).where(
                    AlertEvent.kind == self.kind.value, AlertEvent.resolved_at.is_(None)
                )
            ).all()
        )
        broken = session.execute(
            select(
                Account.id,
                Account.platform,
                Account.handle,
                Account.owner_kind,
                Account.status_reason,
                Account.updated_at,
            ).where(Account.status == AccountStatus.NEEDS_RECONNECT)
        ).all()
        broken_ids = {row.id for row in broken}
        healed = [
            event_id for subject, event_id in open_events.items() if subject not in broken_ids
        ]
        if healed:
            session.execute(
                update(AlertEvent).where(AlertEvent.id.in_(healed)).values(resolved_at=now)
            )
        fresh = [r for r in broken if r.id not in open_events and r.updated_at > since]
        if not fresh:
            return []
        campaigns = self._pledged_campaigns(
            session, [r.id for r in fresh if r.owner_kind == "supporter"]
        )
        events = []
        for row in fresh:
            reason = excerpt(row.status_reason or "", 200)
            detail = f"{platform_name(row.platform)} @{row.handle}" + (
                f": {reason}" if reason else ""
            )
            for campaign_id in campaigns.get(row.id, [None]):
                events.append(
                    NewEvent(
                        key=f"{self.kind.value}:{row.id}:{row.updated_at.isoformat()}:{campaign_id}",
                        kind=self.kind,
                        campaign_id=campaign_id,
                        subject_id=row.id,
                        occurred_at=row.updated_at,
                        platform=row.platform,
                        reason="token no longer accepted",
                        detail=detail,
                    )
                )
        return events

    @staticmethod
    def _pledged_campaigns(session: Session, account_ids: list[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = {}
        for start in range(0, len(account_ids), INSERT_BATCH):
            chunk = account_ids[start : start + INSERT_BATCH]
            rows = session.execute(
                select(Pledge.account_id, PledgeCampaign.campaign_id)
                .join(PledgeCampaign, PledgeCampaign.id == Pledge.pledge_campaign_id)
                .where(Pledge.account_id.in_(chunk))
                .distinct()
            ).all()
            for account_id, campaign_id in rows:
                if account_id is not None:
                    found.setdefault(account_id, []).append(campaign_id)
        return found


class ReleasesFinished:
    """Pledge releases that ended: every post final (released), or the goal missed."""

    name = "releases"
    kind = AlertKind.RELEASE_FINISHED
    STATES = (PledgeCampaignState.RELEASED, PledgeCampaignState.GOAL_MISSED)

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]:
        seen = exists().where(
            AlertEvent.kind == self.kind.value, AlertEvent.subject_id == PledgeCampaign.id
        )
        rows = session.execute(
            select(
                PledgeCampaign.id,
                PledgeCampaign.state,
                PledgeCampaign.campaign_id,
                PledgeCampaign.updated_at,
            ).where(PledgeCampaign.state.in_(self.STATES), PledgeCampaign.updated_at > since, ~seen)
        ).all()
        events = []
        for row in rows:
            counts = dict(
                session.execute(
                    select(Delivery.state, func.count())
                    .join(Pledge, Pledge.delivery_id == Delivery.id)
                    .where(Pledge.pledge_campaign_id == row.id)
                    .group_by(Delivery.state)
                ).all()
            )
            if row.state == PledgeCampaignState.GOAL_MISSED:
                detail = "the goal was not reached, so nothing was posted"
            else:
                total = sum(counts.values())
                detail = f"{counts.get(DeliveryState.SENT, 0)} of {total} posts went out" + "".join(
                    f", {counts[s]} {s}"
                    for s in (DeliveryState.FAILED, DeliveryState.MISSED, DeliveryState.CANCELLED)
                    if counts.get(s)
                )
            events.append(
                NewEvent(
                    key=f"{self.kind.value}:{row.id}:{row.state}",
                    kind=self.kind,
                    campaign_id=row.campaign_id,
                    subject_id=row.id,
                    occurred_at=row.updated_at,
                    reason=row.state,
                    detail=detail,
                )
            )
        return events


class DaemonStopped:
    """Nothing plans posts: no daemon or scheduler has beaten within ``stale_after`` (a
    worker's beat does not count: it sends only what a scheduler hands it). One event
    per stoppage (keyed by the last beat), for the whole installation."""

    name = "heartbeat"
    kind = AlertKind.DAEMON_STOPPED

    def __init__(self, stale_after: timedelta) -> None:
        self.stale_after = stale_after

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]:
        last = heartbeat.pulse(session, now, self.stale_after)
        if last is None or now - last.beat_at < self.stale_after:
            return []
        minutes = int((now - last.beat_at).total_seconds() // 60)
        how = "was stopped" if last.stopped_at is not None else "last beat"
        return [
            NewEvent(
                key=f"{self.kind.value}:{last.beat_at.isoformat()}",
                kind=self.kind,
                campaign_id=None,
                subject_id=None,
                occurred_at=last.beat_at,
                reason="no heartbeat",
                detail=(
                    f"the daemon ({last.holder}) {how} at {last.beat_at:%Y-%m-%d %H:%M:%S} "
                    f"UTC, {minutes} minutes ago: nothing is being posted"
                ),
            )
        ]


class ApprovalsWaiting:
    """Posts still awaiting approval within ``lead`` of their time. The post's text is
    left out: an embargoed statement must not reach a mailbox before its release."""

    name = "approvals"
    kind = AlertKind.APPROVAL_WAITING

    def __init__(self, lead: timedelta) -> None:
        self.lead = lead

    def scan(self, session: Session, now: datetime, since: datetime) -> list[NewEvent]:
        seen = exists().where(AlertEvent.kind == self.kind.value, AlertEvent.subject_id == Post.id)
        rows = session.execute(
            select(Post.id, Post.campaign_id, Post.key, Post.scheduled_at, Post.timezone).where(
                Post.state == PostState.AWAITING_APPROVAL,
                Post.scheduled_at > now,
                Post.scheduled_at <= now + self.lead,
                ~seen,
            )
        ).all()
        return [
            NewEvent(
                key=f"{self.kind.value}:{row.id}:{row.scheduled_at.isoformat()}",
                kind=self.kind,
                campaign_id=row.campaign_id,
                subject_id=row.id,
                occurred_at=now,
                reason="not yet approved",
                detail=f"post {row.key} (#{row.id}) is due "
                + local_time(row.scheduled_at, row.timezone),
            )
            for row in rows
        ]


def detectors(*, heartbeat_stale: timedelta, approval_lead: timedelta) -> list[Detector]:
    found: list[Detector] = [
        DeliveryOutcomes(),
        AccountsNeedingReconnect(),
        ReleasesFinished(),
        DaemonStopped(heartbeat_stale),
        ApprovalsWaiting(approval_lead),
    ]
    return found


def since_for(session: Session, name: str, now: datetime, lookback: timedelta) -> datetime:
    """Where a detector reads from; a detector seen for the first time starts now, so
    turning alerts on does not report the past."""
    cursor = session.get(AlertCursor, name)
    if cursor is None:
        session.add(AlertCursor(name=name, started_at=now, scanned_at=now))
        session.flush()
        return now
    return max(cursor.started_at, min(cursor.scanned_at, now) - lookback)


def record(session: Session, events: Sequence[NewEvent], now: datetime) -> int:
    """Insert events not seen before; a duplicate key (another watcher's, or one seen in
    the overlap of two scans) is dropped without error. Returns how many were offered."""
    if not events:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(AlertEvent).on_conflict_do_nothing(index_elements=["key"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(AlertEvent).on_conflict_do_nothing(index_elements=["key"])
    rows = [{**asdict(e), "kind": e.kind.value, "detected_at": now} for e in events]
    for start in range(0, len(rows), INSERT_BATCH):
        session.execute(statement, rows[start : start + INSERT_BATCH])
    return len(rows)


def detect(session: Session, found: Iterable[Detector], now: datetime, lookback: timedelta) -> int:
    """Run every detector once; each one's events and cursor commit together."""
    added = 0
    for detector in found:
        try:
            since = since_for(session, detector.name, now, lookback)
            added += record(session, detector.scan(session, now, since), now)
            session.execute(
                update(AlertCursor).where(AlertCursor.name == detector.name).values(scanned_at=now)
            )
            session.commit()
        except Exception:
            session.rollback()
            logger.exception(
                "alert detector %s failed; it runs again at the next check", detector.name
            )
    return added
