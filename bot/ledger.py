"""The delivery ledger: every state change of a delivery, as conditional UPDATEs.

A delivery is claimed by moving it to ``sending`` *before* any network call, in its own
committed transaction, and only if it is still ``pending`` (or ``unknown``) and due; the
row count says whether this worker won (healthchecks' sendalerts does the same). Later
writes require ``state = 'sending' AND claimed_by = me``, so a worker that lost its claim
can never overwrite another's result. The same SQL runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import (
    Account,
    AccountStatus,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostState,
)
from bot.platforms.base import Published

logger = logging.getLogger(__name__)

# How far before the first attempt a reconciliation looks for the post: clocks differ.
RECONCILE_LOOKBACK = timedelta(minutes=5)


@dataclass(frozen=True)
class Job:
    """Everything one attempt needs, read right after the claim. Ids, never ORM objects."""

    delivery_id: int
    worker: str
    platform: str
    account_id: int
    account_handle: str
    sealed_credentials: str
    parts: tuple[str, ...]
    link: str | None
    publish_at: datetime | None
    parts_done: int
    platform_ids: tuple[str, ...]
    attempts: int
    check_first: bool  # it was ``unknown``: look on the platform before sending
    cancelled: bool  # the post was cancelled while this delivery's outcome was unknown
    since: datetime
    scheduled_at: datetime
    label: str


@dataclass(frozen=True)
class Missed:
    label: str
    account: str
    due_at: datetime


class Ledger:
    def __init__(self, sessions: sessionmaker[Session], worker: str) -> None:
        self._sessions = sessions
        self.worker = worker

    # --- claiming -------------------------------------------------------------------

    def claim(self, delivery_id: int, now: datetime) -> Job | None:
        """Take the delivery for this worker, or return None if it is not ours to send."""
        with self._sessions() as session:
            state = session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
            if state not in (DeliveryState.PENDING, DeliveryState.UNKNOWN):
                return None
            won = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.state == state,
                    Delivery.due_at <= now,
                )
                .values(
                    state=DeliveryState.SENDING,
                    claimed_by=self.worker,
                    sending_at=now,
                    attempts=Delivery.attempts + 1,
                    updated_at=now,
                )
            ).rowcount  # type: ignore[attr-defined]
            if won != 1:
                session.rollback()
                return None
            session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.first_sending_at.is_(None))
                .values(first_sending_at=now)
            )
            session.commit()
            row = session.execute(
                select(Delivery, Post, Account, Campaign.slug)
                .join(Post, Delivery.post_id == Post.id)
                .join(Account, Delivery.account_id == Account.id)
                .join(Campaign, Post.campaign_id == Campaign.id)
                .where(Delivery.id == delivery_id)
            ).one()
            delivery, post, account, slug = row
            hold = post.hold_on_facebook and delivery.platform == "facebook"
            return Job(
                delivery_id=delivery.id,
                worker=self.worker,
                platform=delivery.platform,
                account_id=account.id,
                account_handle=account.handle,
                sealed_credentials=account.credentials,
                parts=tuple(post.parts.get(delivery.platform, ())),
                link=post.link,
                publish_at=post.scheduled_at if hold else None,
                parts_done=delivery.parts_done,
                platform_ids=tuple(delivery.platform_ids or ()),
                attempts=delivery.attempts,
                check_first=state == DeliveryState.UNKNOWN,
                cancelled=post.state == PostState.CANCELLED,
                since=(delivery.first_sending_at or now) - RECONCILE_LOOKBACK,
                scheduled_at=post.scheduled_at,
                label=f"{slug}/{post.key}",
            )

    # --- results (only the claiming worker may write them) -----------------------------

    def _mine(self, job: Job, **values: object) -> bool:
        """Write ``values`` only if this worker still holds the claim."""
        with self._sessions() as session:
            done = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == job.delivery_id,
                    Delivery.state == DeliveryState.SENDING,
                    Delivery.claimed_by == job.worker,
                )
                .values(**values)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        if done != 1:
            logger.error("delivery %s was taken from this worker mid-send", job.delivery_id)
        return done == 1

    def part_done(
        self, job: Job, index: int, ids: Sequence[str], published: Published, now: datetime
    ) -> None:
        values: dict[str, object] = {
            "parts_done": index + 1,
            "platform_ids": list(ids),
            "updated_at": now,
        }
        if index == 0:
            values["url"] = published.url
        self._mine(job, **values)

    def sent(self, job: Job, now: datetime) -> None:
        self._mine(
            job,
            state=DeliveryState.SENT,
            sent_at=now,
            error=None,
            error_kind=None,
            updated_at=now,
        )

    def retry_later(
        self,
        job: Job,
        due_at: datetime,
        error: str,
        kind: str,
        now: datetime,
        *,
        count_attempt: bool = True,
    ) -> None:
        self._mine(
            job,
            state=DeliveryState.PENDING,
            due_at=due_at,
            error=error,
            error_kind=kind,
            updated_at=now,
            attempts=Delivery.attempts if count_attempt else Delivery.attempts - 1,
        )

    def unknown(self, job: Job, due_at: datetime, error: str, now: datetime) -> None:
        """The outcome of the last call is not known: reconcile before sending again."""
        self._mine(
            job,
            state=DeliveryState.UNKNOWN,
            due_at=due_at,
            error=error,
            error_kind="unknown",
            updated_at=now,
        )

    def cancelled(self, job: Job, now: datetime) -> None:
        self._mine(
            job,
            state=DeliveryState.CANCELLED,
            updated_at=now,
            error="cancelled; the check found it had not gone out",
            error_kind=None,
        )

    def failed(self, job: Job, error: str, kind: str, now: datetime) -> None:
        self._mine(
            job,
            state=DeliveryState.FAILED,
            error=error,
            error_kind=kind,
            updated_at=now,
        )

    def account_needs_reconnect(self, account_id: int, reason: str) -> None:
        with self._sessions() as session:
            session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(status=AccountStatus.NEEDS_RECONNECT, status_reason=reason)
            )
            session.commit()

    # --- the daemon's housekeeping ----------------------------------------------------

    def recover_interrupted(self, now: datetime) -> int:
        """After a crash, anything left ``sending`` may or may not have gone out.

        Only call this while holding the daemon lock: then no other worker is sending.
        """
        with self._sessions() as session:
            count = session.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.SENDING)
                .values(
                    state=DeliveryState.UNKNOWN,
                    due_at=now,
                    updated_at=now,
                    error="interrupted mid-send; checking the platform before resending",
                    error_kind="unknown",
                )
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            return int(count or 0)

    def mark_missed(self, now: datetime, grace: timedelta) -> list[Missed]:
        """Pending deliveries due longer ago than ``grace`` are not sent late: they are
        marked ``missed`` and returned so the daemon can report them."""
        cutoff = now - grace
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.id, Campaign.slug, Post.key, Account.handle, Delivery.due_at)
                .join(Post, Delivery.post_id == Post.id)
                .join(Campaign, Post.campaign_id == Campaign.id)
                .join(Account, Delivery.account_id == Account.id)
                .where(Delivery.state == DeliveryState.PENDING, Delivery.due_at < cutoff)
            ).all()
            missed = []
            for delivery_id, slug, key, handle, due_at in rows:
                won = session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == delivery_id,
                        Delivery.state == DeliveryState.PENDING,
                        Delivery.due_at < cutoff,
                    )
                    .values(
                        state=DeliveryState.MISSED,
                        updated_at=now,
                        error=f"not sent: due {due_at:%Y-%m-%d %H:%M} UTC while the "
                        "daemon was not running",
                        error_kind="missed",
                    )
                ).rowcount  # type: ignore[attr-defined]
                if won == 1:
                    missed.append(Missed(f"{slug}/{key}", handle, due_at))
            session.commit()
            return missed

    def due(self, until: datetime) -> list[tuple[int, datetime]]:
        """(id, due_at) of open deliveries of live posts due by ``until``."""
        with self._sessions() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.due_at)
                .join(Post, Delivery.post_id == Post.id)
                .where(
                    Delivery.state.in_((DeliveryState.PENDING, DeliveryState.UNKNOWN)),
                    Delivery.due_at <= until,
                    # an unknown outcome is still checked after a cancel: it may be out
                    or_(Post.state == PostState.SCHEDULED, Delivery.state == DeliveryState.UNKNOWN),
                )
                .order_by(Delivery.due_at)
            ).all()
            return [(int(i), d) for i, d in rows]
