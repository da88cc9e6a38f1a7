"""The delivery ledger: every state change of a delivery, as conditional UPDATEs.

A delivery is claimed by moving it to ``sending`` *before* any network call, in a
committed transaction, and only if it is still ``pending`` (or ``unknown``) and due; the
row count (or RETURNING, for a batch) says which rows this worker won (healthchecks'
sendalerts does the same). Later writes require ``state = 'sending' AND claimed_by = me``,
so a worker that lost its claim can never overwrite another's result. The same SQL runs on
SQLite and PostgreSQL; the statements are in bot/delivery/statements.py.

While the daemon runs, result writes are group-committed (bot/delivery/group_commit.py): a result
is recorded after the platform's answer either way, and a crash before its commit leaves
the row ``sending``, which start-up recovery turns into ``unknown`` — looked for on the
platform before anything is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, Update, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.group_commit import GroupCommit
from bot.delivery.statements import (
    CANCELLED,
    CANCELLED_UNSENT,
    CLAIM,
    CLAIM_DUE,
    FAILED,
    JOB,
    JOBS,
    MISSED,
    PART_DONE,
    POST_STATE,
    RETRY,
    RETRY_UNCOUNTED,
    SENT,
    STATE,
    UNCLAIM,
    UNKNOWN,
    UNKNOWN_UNCOUNTED,
    Lane,
)
from bot.platforms.base import Published
from bot.storage.models import (
    Account,
    AccountStatus,
    DeliveryState,
    PostKind,
    PostState,
)

logger = logging.getLogger(__name__)

# How far before the first attempt a reconciliation looks for the post: clocks differ.
RECONCILE_LOOKBACK = timedelta(minutes=5)
# Before any delivery: "ordinary posts due since ever" is every due one.
EVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Job:
    """Everything one attempt needs, read right after the claim. Ids, never ORM objects."""

    delivery_id: int
    post_id: int
    campaign_id: int
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
    record_key: str | None  # the delivery's client-chosen record key (Bluesky)
    attempts: int
    check_first: bool  # it was ``unknown``: look on the platform before sending
    cancelled: bool  # the post was cancelled while this delivery's outcome was unknown
    since: datetime
    first_sending_at: datetime
    uncertain_since: datetime  # start of the attempt whose outcome is unknown
    scheduled_at: datetime
    due_at: datetime  # when this attempt fell due (a retry's, a release's spread time)
    label: str
    release: bool = False  # one supporter's post of a pledge release

    def idempotency_key(self, part: int) -> str:
        """The key every attempt at thread part ``part`` of this delivery sends, for a
        platform that honours one (Mastodon's ``Idempotency-Key``: a repeat within an hour
        returns the status already made). The first claim's time is in it, so a database
        restored or started afresh, whose delivery ids start again, never repeats a key
        the instance still remembers."""
        return f"clarion-{self.delivery_id}-{part}-{int(self.first_sending_at.timestamp())}"

    @property
    def log_ids(self) -> dict[str, int]:
        """What a log line about this attempt is about (fields of LOG_FORMAT=json)."""
        return {
            "delivery_id": self.delivery_id,
            "post_id": self.post_id,
            "campaign_id": self.campaign_id,
        }


class Ledger:
    """The claims of one worker and their results. The daemon's sweeps over the whole table
    (crash recovery, missed posts, stale claims, due times) are bot/delivery/sweeps.py."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        worker: str,
        *,
        on_claimed: Callable[[int], None] | None = None,
    ) -> None:
        """``on_claimed``: told how many deliveries each claim won (the metrics)."""
        self.sessions = sessions
        self._engine: Engine = sessions.kw["bind"]
        self.worker = worker
        self.on_claimed = on_claimed
        self._group: GroupCommit | None = None

    # --- claiming -------------------------------------------------------------------

    def claim(self, delivery_id: int, now: datetime) -> Job | None:
        """Take the delivery for this worker, or return None if it is not ours to send."""
        with self._engine.begin() as conn:
            state = conn.execute(STATE, {"did": delivery_id}).scalar()
            if state not in (DeliveryState.PENDING, DeliveryState.UNKNOWN):
                return None
            params = {"did": delivery_id, "from_state": state, "now": now, "me": self.worker}
            if conn.execute(CLAIM, params).rowcount != 1:
                return None
        if self.on_claimed is not None:
            self.on_claimed(1)
        with self._engine.connect() as conn:
            row = conn.execute(JOB, {"did": delivery_id}).one()
        return self._job(row, state, now)

    def claim_due(
        self,
        now: datetime,
        limit: int,
        unknown: int = 0,
        *,
        ordinary_since: datetime | None = EVER,
    ) -> list[Job]:
        """Claim, in one transaction, at most ``limit`` due deliveries: ordinary pending
        ones first (those due after ``ordinary_since``; None: none), then up to
        ``unknown`` whose last outcome is unknown (to be looked for first), then a pledge
        release's pending ones, each lane oldest first (``Lane``); return their jobs. Each
        row is ``sending`` and committed before this returns, so before any network call,
        exactly as with ``claim``. If the jobs cannot be read, the claims are given back
        before the error is raised."""
        won: list[tuple[int, str]] = []
        with self._engine.begin() as conn:
            for lane, most in (
                (Lane.ORDINARY, 0 if ordinary_since is None else limit),
                (Lane.UNKNOWN, min(unknown, limit)),
                (Lane.RELEASE, limit),
            ):
                most = min(most, limit - len(won))
                if most <= 0:
                    continue
                params = {
                    "now": now,
                    "limit": most,
                    "me": self.worker,
                    "since": ordinary_since or EVER,
                }
                state = DeliveryState.UNKNOWN if lane == Lane.UNKNOWN else DeliveryState.PENDING
                won += [(int(i), state) for i in conn.execute(CLAIM_DUE[lane], params).scalars()]
        if not won:
            return []
        if self.on_claimed is not None:
            self.on_claimed(len(won))
        states = dict(won)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(JOBS, {"ids": list(states)}).all()
        except Exception:
            self._give_back(won, now)
            raise
        jobs = {row.delivery_id: self._job(row, states[row.delivery_id], now) for row in rows}
        return [jobs[i] for i, _ in won]

    def _give_back(self, won: list[tuple[int, str]], now: datetime) -> None:
        with self._engine.begin() as conn:
            for delivery_id, state in won:
                params = {"did": delivery_id, "me": self.worker, "from_state": state, "now": now}
                conn.execute(UNCLAIM, params)

    def _job(self, row: Row[*tuple[Any, ...]], state: str, now: datetime) -> Job:
        hold = row.hold_on_facebook and row.platform == "facebook"
        return Job(
            delivery_id=row.delivery_id,
            post_id=row.post_id,
            campaign_id=row.campaign_id,
            worker=self.worker,
            platform=row.platform,
            account_id=row.account_id,
            account_handle=row.handle,
            sealed_credentials=row.credentials,
            parts=tuple(row.parts.get(row.platform, ())),
            link=row.link,
            publish_at=row.scheduled_at if hold else None,
            parts_done=row.parts_done,
            platform_ids=tuple(row.platform_ids or ()),
            record_key=row.record_key,
            attempts=row.attempts,
            check_first=state == DeliveryState.UNKNOWN,
            cancelled=row.post_state == PostState.CANCELLED,
            since=(row.first_sending_at or now) - RECONCILE_LOOKBACK,
            first_sending_at=row.first_sending_at or now,
            uncertain_since=row.uncertain_since or row.first_sending_at or now,
            scheduled_at=row.scheduled_at,
            due_at=row.due_at,
            label=f"{row.slug}/{row.key}",
            release=row.post_kind == PostKind.PLEDGE,
        )

    def unclaim(self, job: Job, now: datetime) -> bool:
        """Give back a claim nothing was sent for (the daemon is stopping): the row returns
        to the state it was claimed from, and the attempt is not counted."""
        state = DeliveryState.UNKNOWN if job.check_first else DeliveryState.PENDING
        return self._mine(job, UNCLAIM, from_state=state, now=now)

    # --- group commit (the daemon's) ---------------------------------------------------

    def start_group_commit(self) -> None:
        """From now on result writes from any thread are committed together (see the
        module docstring); each caller still waits for its own write."""
        if self._group is None:
            self._group = GroupCommit(self._engine)

    def stop_group_commit(self) -> None:
        group, self._group = self._group, None
        if group is not None:
            group.close()

    # --- results (only the claiming worker may write them) -----------------------------

    def _mine(self, job: Job, statement: Update, **values: object) -> bool:
        """Run a claim-guarded UPDATE: it only touches the row while this worker holds it."""
        params = {"did": job.delivery_id, "me": job.worker, **values}
        if self._group is not None:
            count = self._group.execute(statement, params)
        else:
            with self._engine.begin() as conn:
                count = conn.execute(statement, params).rowcount
        return self._kept(job, count)

    @staticmethod
    def _kept(job: Job, count: int) -> bool:
        if count != 1:
            logger.error("delivery %s was taken from this worker mid-send", job.delivery_id)
        return count == 1

    def sent_later(
        self, job: Job, ids: Sequence[str], published: Published, now: datetime
    ) -> Future[bool] | None:
        """``sent`` without waiting for the commit, when group commit is on (else None:
        call ``sent``). The future says whether the claim was still held."""
        if self._group is None:
            return None
        params = {
            "did": job.delivery_id,
            "me": job.worker,
            "parts": len(ids),
            "ids": list(ids),
            "url": published.url,
            "now": now,
        }
        written = self._group.submit(SENT, params)
        kept: Future[bool] = Future()

        def settle(done: Future[int]) -> None:
            error = done.exception()
            if error is not None:
                kept.set_exception(error)
            else:
                kept.set_result(self._kept(job, done.result()))

        written.add_done_callback(settle)
        return kept

    def part_done(
        self, job: Job, index: int, ids: Sequence[str], published: Published, now: datetime
    ) -> bool:
        """Part ``index`` is on the platform (more parts follow). False: the claim was lost."""
        return self._mine(
            job, PART_DONE, parts=index + 1, ids=list(ids), url=published.url, now=now
        )

    def sent(
        self, job: Job, ids: Sequence[str], published: Published | None, now: datetime
    ) -> bool:
        """Done: every part is out. ``published`` is the last part if it was just sent
        (one write records it and the result), None if it was recorded already."""
        url = published.url if published is not None else None
        return self._mine(job, SENT, parts=len(ids), ids=list(ids), url=url, now=now)

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
        statement = RETRY if count_attempt else RETRY_UNCOUNTED
        self._mine(job, statement, due=due_at, error=error, kind=kind, now=now)

    def unknown(
        self,
        job: Job,
        due_at: datetime,
        error: str,
        now: datetime,
        *,
        since: datetime | None = None,
        count_attempt: bool = True,
    ) -> None:
        """The outcome of the last call is not known: reconcile before sending again.
        ``since``: when the request that may have posted was made (default: the one
        already on record). ``count_attempt=False`` for a wait (rate limit, timeline
        settling), not a try."""
        statement = UNKNOWN if count_attempt else UNKNOWN_UNCOUNTED
        since = since or job.uncertain_since
        self._mine(job, statement, due=due_at, error=error, now=now, since=since)

    def missed(self, job: Job, error: str, now: datetime) -> None:
        self._mine(job, MISSED, error=error, now=now)

    def cancelled(self, job: Job, now: datetime) -> None:
        self._mine(job, CANCELLED, now=now)

    def post_cancelled(self, job: Job) -> bool:
        """Whether the job's post was cancelled since it was claimed."""
        with self._engine.connect() as conn:
            state = conn.execute(POST_STATE, {"did": job.delivery_id}).scalar()
        return state == PostState.CANCELLED

    def cancelled_unsent(self, job: Job, now: datetime) -> None:
        """Claimed, then its post was cancelled before anything was sent."""
        self._mine(job, CANCELLED_UNSENT, now=now)

    def failed(self, job: Job, error: str, kind: str, now: datetime) -> None:
        self._mine(job, FAILED, error=error, kind=kind, now=now)

    def account_needs_reconnect(self, account_id: int, reason: str) -> None:
        with self.sessions() as session:
            session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(status=AccountStatus.NEEDS_RECONNECT, status_reason=reason)
            )
            session.commit()
