"""PostgreSQL locks for scaled-out roles: the one active scheduler, and each worker's lease.

Each lock is a session advisory lock on a connection kept open for the life of the role,
so it dies with the process: a SIGKILLed scheduler's lock is free as soon as PostgreSQL
sees its connection close, and a standby takes it on its next try; a SIGKILLed worker's
lease is gone at once, which tells the scheduler that the worker's claims have no send
in flight any more (https://www.postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS).

Every role also holds the one-daemon lock (bot/storage/lock.py) *shared*: any number of
schedulers and workers run together, but not beside a single-machine daemon (``run``,
``--role all``), which holds it exclusively and treats every ``sending`` row as its own
after a crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, text

from bot.delivery.outcomes import ErrorKind
from bot.storage.lock import PG_ADVISORY_KEY, AlreadyRunning
from bot.storage.models import DeliveryState

logger = logging.getLogger(__name__)

# Two-key advisory locks (int4, int4) live in a key space of their own, apart from the
# daemon lock's one bigint key.
SCHEDULER_CLASS = 0x436C6173  # "Clas": the scheduler's lock; second key 0
LEASE_CLASS = 0x436C6177  # "Claw": a worker's lease; second key hashtext(worker name)

_HELD = (
    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_backend_pid() AND classid = :c AND objid = ({key})::bigint & 4294967295 "
    "AND objsubid = 2"
)

_ALL_DAEMON = (
    "a single-machine Clarion daemon (`run` or `run --role all`) is running on this "
    "database; stop it before starting schedulers and workers (they share the queue, it "
    "does not)"
)


class RoleLock:
    """A connection holding the shared daemon lock and one two-key advisory lock. Safe to
    use from several threads (the role's loop, and /readyz asking ``still_held``): a
    connection serves one at a time."""

    def __init__(self, engine: Engine, classid: int, key_sql: str, params: dict[str, object]):
        self._engine = engine
        self._classid = classid
        self._key_sql = key_sql  # an SQL expression for the second key
        self._params = params
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        """Take the lock if free: True when held now. Raises ``AlreadyRunning`` while a
        single-machine daemon holds the daemon lock."""
        with self._lock:
            return self._try_acquire()

    def _try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            shared = conn.execute(
                text("SELECT pg_try_advisory_lock_shared(:k)"), {"k": PG_ADVISORY_KEY}
            ).scalar()
            if not shared:
                raise AlreadyRunning(_ALL_DAEMON)
            got = conn.execute(
                text(f"SELECT pg_try_advisory_lock(:c, {self._key_sql})"),
                {"c": self._classid, **self._params},
            ).scalar()
            conn.commit()
        except BaseException:
            _end_session(conn)
            raise
        if not got:
            _end_session(conn)  # lets go of the shared daemon lock too
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """Whether the lock is still ours (it dies with its connection: a database restart
        or a dropped network)."""
        with self._lock:
            if self._conn is None:
                return False
            try:
                row = self._conn.execute(
                    text(_HELD.format(key=self._key_sql)), {"c": self._classid, **self._params}
                ).first()
                self._conn.commit()
            except Exception:
                return False
            return row is not None

    def release(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                _end_session(self._conn)
            finally:
                self._conn = None


def _end_session(conn: Connection) -> None:
    """Close the database session itself, not just hand the connection back to the pool
    (where it would live on holding its advisory locks): session locks end with it."""
    try:
        conn.invalidate()
    finally:
        conn.close()


def scheduler_lock(engine: Engine) -> RoleLock:
    """The lock only the active scheduler holds."""
    return RoleLock(engine, SCHEDULER_CLASS, "0", {})


def worker_lease(engine: Engine, worker: str) -> RoleLock:
    """The lease of the worker that claims under ``worker`` (the ledger's name)."""
    return RoleLock(engine, LEASE_CLASS, "hashtext(:w)", {"w": worker})


_LEASE_LIVE = (
    "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
    "AND l.classid = :lease AND l.objsubid = 2 "
    "AND l.objid = hashtext(d.claimed_by)::bigint & 4294967295)"
)


def live_workers(engine: Engine) -> int:
    """How many workers hold a lease now."""
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :lease AND objsubid = 2"
            ),
            {"lease": LEASE_CLASS},
        ).scalar()
    return int(count or 0)


# A worker sends only while it has confirmed its lease within this many seconds
# (``Worker.may_send``); it checks the lease more often than that.
LEASE_TRUST_SECONDS = 10.0


def settle_wait(http_timeout: float) -> float:
    """How long a worker's lease must have been seen gone before its claims are settled:
    the worker may still start a request for ``LEASE_TRUST_SECONDS`` after its last good
    check, and that request may take ``http_timeout``; ten seconds more for clocks and
    the scheduler's own poll."""
    return LEASE_TRUST_SECONDS + http_timeout + 10.0


class DeadClaims:
    """The scheduler's sweep of dead workers' claims. A claim is settled only once its
    worker's lease has been seen gone for ``wait`` seconds by this scheduler — counted
    from when it was first seen gone, never from when the claim was made: a worker cut
    off from the database (its lease ended, the process alive) stops starting requests
    within ``LEASE_TRUST_SECONDS`` of its last good check, and a request it started
    ends within HTTP_TIMEOUT_SECONDS, so by then nothing of its is still on the way. A
    scheduler that takes over starts counting afresh."""

    def __init__(
        self, engine: Engine, wait: float, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self.wait = wait
        self._monotonic = monotonic
        self._gone_since: dict[str, float] = {}

    def forget(self) -> None:
        """Count afresh (on taking over: a worker may have come back and gone again)."""
        self._gone_since = {}

    def sweep(self, now: datetime) -> int:
        """Settle what is due; how many claims were settled."""
        gone = claimers_without_lease(self._engine)
        seen = self._monotonic()
        self._gone_since = {w: self._gone_since.get(w, seen) for w in gone}
        due = sorted(w for w, since in self._gone_since.items() if seen - since >= self.wait)
        return release_dead_claims(self._engine, due, now) if due else 0


def claimers_without_lease(engine: Engine) -> set[str]:
    """The workers with claims still ``sending`` and no lease now."""
    with engine.connect() as conn:
        # The claimers first, then one look at the locks for each: not one per claim.
        rows = conn.execute(
            text(
                "SELECT d.claimed_by FROM (SELECT DISTINCT claimed_by FROM deliveries "
                "WHERE state = :sending AND claimed_by IS NOT NULL) AS d "
                f"WHERE NOT {_LEASE_LIVE}"
            ),
            {"sending": DeliveryState.SENDING.value, "lease": LEASE_CLASS},
        )
        return {str(row[0]) for row in rows}


def release_dead_claims(engine: Engine, workers: Sequence[str], now: datetime) -> int:
    """The claims these workers left ``sending`` become ``unknown``, to be looked for on the
    platform before any resend — as after a single daemon's crash
    (``Sweeps.recover_interrupted``); a worker whose lease is back is left alone. Call it
    through ``DeadClaims``, which waits until no request of theirs can still land. The
    interrupted attempt is not counted against MAX_ATTEMPTS: it was our failure, not the
    platform's."""
    with engine.begin() as conn:
        done = conn.execute(
            text(
                "UPDATE deliveries AS d SET state = :unknown, "
                "attempts = greatest(d.attempts - 1, 0), next_attempt_at = :now, "
                "updated_at = :now, uncertain_since = :now, error_kind = :kind, "
                "error = 'its worker died mid-send; checking the platform before resending' "
                f"WHERE d.state = :sending AND d.claimed_by = ANY(:workers) AND NOT {_LEASE_LIVE}"
            ),
            {
                "unknown": DeliveryState.UNKNOWN.value,
                "sending": DeliveryState.SENDING.value,
                "kind": ErrorKind.UNKNOWN.value,
                "now": now,
                "workers": list(workers),
                "lease": LEASE_CLASS,
            },
        )
    count = int(done.rowcount or 0)
    if count:
        logger.warning(
            "%s deliveries were claimed by workers that died mid-send; checking the "
            "platforms before resending any of them",
            count,
        )
    return count
