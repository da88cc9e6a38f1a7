"""The daemon's sweeps: housekeeping over the whole deliveries table, around the sends.

Recovery after a crash, posts missed while no daemon ran, claims whose result was never
recorded, and when the next deliveries fall due. The ledger (bot/delivery/ledger.py) is
the other side of the seam: it claims one delivery (or one batch) and records that claim's
results, every write guarded by ``claimed_by``. Sweeps never hold a claim; they act on
many rows at once, mostly while the daemon starts under its lock, and share only the
database and the worker name with the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, case, func, or_, select, type_coerce, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.outcomes import ErrorKind
from bot.storage.models import (
    Account,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostState,
    UTCDateTime,
    utcnow,
)


@dataclass(frozen=True)
class Missed:
    label: str
    account: str
    due_at: datetime


class Sweeps:
    """The sweeps of one worker (``worker``: the name its ledger claims under)."""

    def __init__(self, sessions: sessionmaker[Session], worker: str) -> None:
        self._sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self.worker = worker

    def recover_interrupted(self, now: datetime) -> int:
        """After a crash, anything left ``sending`` may or may not have gone out.

        Only call this while holding the daemon lock: then no other worker is sending.
        The interrupted attempt is not counted: it got no answer because we died, and
        MAX_ATTEMPTS is a budget for the platform's failures, not ours.
        """
        with self._sessions() as session:
            count = session.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.SENDING)
                .values(
                    state=DeliveryState.UNKNOWN,
                    attempts=func.max(Delivery.attempts - 1, 0)
                    if self._engine.dialect.name == "sqlite"
                    else func.greatest(Delivery.attempts - 1, 0),
                    next_attempt_at=now,
                    updated_at=now,
                    error="interrupted mid-send; checking the platform before resending",
                    error_kind=ErrorKind.UNKNOWN,
                    # whatever it sent, it sent before now
                    uncertain_since=now,
                )
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            return int(count or 0)

    def mark_missed(
        self, now: datetime, grace: timedelta, *, unapproved: bool = False
    ) -> list[Missed]:
        """At start-up: pending deliveries whose time passed more than ``grace`` ago (while
        no daemon ran) are not sent late; they become ``missed`` and are returned so the
        daemon can report them. A post Facebook was to hold counts from its publish time;
        a thread with parts already out says how many.

        ``unapproved``: instead, the deliveries of posts still waiting for approval (or
        rejected) that long after their time, which the claim never takes; the daemon
        sweeps these on every poll, so they are reported while it runs."""
        cutoff = now - grace
        post_states = PostState.UNAPPROVED if unapproved else (PostState.SCHEDULED,)
        why = "not approved by its time" if unapproved else "the daemon was not running"
        held = Post.hold_on_facebook & (Delivery.platform == "facebook")
        effective_due = type_coerce(
            case((held, Post.scheduled_at), else_=Delivery.due_at), UTCDateTime()
        )
        with self._sessions() as session:
            rows = session.execute(
                select(
                    Delivery.id,
                    Campaign.slug,
                    Post.key,
                    Account.handle,
                    effective_due,
                    Delivery.parts_done,
                    Post.parts,
                    Delivery.platform,
                )
                .join(Post, Delivery.post_id == Post.id)
                .join(Campaign, Post.campaign_id == Campaign.id)
                .join(Account, Delivery.account_id == Account.id)
                .where(
                    Delivery.state == DeliveryState.PENDING,
                    Post.state.in_(post_states),
                    # Implied by the next line (a held post's delivery is due before its
                    # publish time), but lets the (state, due_at) index range-scan: the
                    # daemon runs this sweep on every poll, beside a release of thousands.
                    Delivery.due_at < cutoff,
                    effective_due < cutoff,
                )
            ).all()
            missed = []
            for delivery_id, slug, key, handle, due_at, done, parts, platform in rows:
                total = len(parts.get(platform, ()))
                what = f"{done} of {total} parts were sent; the rest were" if done else "it was"
                won = session.execute(
                    update(Delivery)
                    .where(Delivery.id == delivery_id, Delivery.state == DeliveryState.PENDING)
                    .values(
                        state=DeliveryState.MISSED,
                        updated_at=now,
                        error=f"{what} not sent: due {due_at:%Y-%m-%d %H:%M} UTC; {why}",
                        error_kind=ErrorKind.MISSED,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if won == 1:
                    missed.append(Missed(f"{slug}/{key}", handle, due_at))
            session.commit()
            return missed

    def release_stale(
        self, older_than: datetime, in_flight: frozenset[int], now: datetime | None = None
    ) -> int:
        """This worker's claims with no send in flight (a failed write after a send left
        them ``sending``) become ``unknown``, to be looked for before any resend. Only
        claims older than any request can last, so a live send is never touched."""
        with self._engine.begin() as conn:
            query = update(Delivery).where(
                Delivery.state == DeliveryState.SENDING,
                Delivery.claimed_by == self.worker,
                Delivery.sending_at < older_than,
            )
            if in_flight:
                query = query.where(Delivery.id.not_in(in_flight))
            done = conn.execute(
                query.values(
                    state=DeliveryState.UNKNOWN,
                    next_attempt_at=older_than,
                    error="its result was never recorded; checking the platform first",
                    error_kind=ErrorKind.UNKNOWN,
                    # no send is in flight: whatever it sent, it sent before now
                    uncertain_since=now or utcnow(),
                )
            )
            return int(done.rowcount or 0)

    def due(self, until: datetime) -> list[tuple[int, datetime]]:
        """(id, due_at) of open deliveries of live posts due by ``until``: what
        ``claim_due`` would take by then."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(Delivery.id, Delivery.next_attempt_at)
                .where(_OPEN, Delivery.next_attempt_at <= until)
                .join(Post, Delivery.post_id == Post.id)
                .order_by(Delivery.next_attempt_at)
            ).all()
            return [(int(i), d) for i, d in rows]

    def due_times(self, until: datetime) -> list[datetime]:
        """The distinct times at which open deliveries fall due by ``until``: one row for a
        release of 10,000 posts at one instant, however many posts it has."""
        with self._engine.connect() as conn:
            return list(
                conn.execute(
                    select(Delivery.next_attempt_at)
                    .distinct()
                    .join(Post, Delivery.post_id == Post.id)
                    .where(_OPEN, Delivery.next_attempt_at <= until)
                    .order_by(Delivery.next_attempt_at)
                ).scalars()
            )


# Open and claimable: pending while its post is scheduled; unknown even after a cancel
# (it may be out: the check still runs). The same rule as statements.CLAIM_DUE.
_OPEN = or_(
    (Delivery.state == DeliveryState.PENDING) & (Post.state == PostState.SCHEDULED),
    Delivery.state == DeliveryState.UNKNOWN,
)
