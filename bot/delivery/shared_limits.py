"""Rate limits counted in the database, so that several workers send no more than one would.

One process (``run``, the ``all`` role) keeps its limits in memory: ``RateGates``
(bot/delivery/policy.py) remembers each account's 429 reset time, and a release is spread
before it starts (bot/pledges/limits.py) so that it fits the networks' budgets. Scaled out,
N workers would each keep their own gates and each spend the whole budget. So a worker
(``run --role worker``, PostgreSQL only) counts them in the database instead:

- **Rate gates.** A 429's reset time is written once to ``rate_gates``
  (``SharedRateGates.block``: an upsert that keeps the later time). Every worker reads
  the open gates before it sends a claimed batch (``SharedLimits.admit``, at most every
  ``refresh_seconds``), so a reset one worker was told holds back all of them.
- **Allowances** counted per fixed window in ``limit_windows``: X's posts per app per
  24 hours (X_APP_DAILY_POST_LIMIT; docs.x.com/x-api/fundamentals/rate-limits), the
  requests one address may make to Bluesky-hosted servers per 5 minutes
  (BLUESKY_REQUESTS_PER_5_MINUTES; docs.bsky.app/docs/advanced-guides/rate-limits) and to
  one Mastodon server (MASTODON_REQUESTS_PER_5_MINUTES, per server;
  docs.joinmastodon.org/api/rate-limits). A claimed batch reserves the posts it needs, per
  key, in one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` whose row lock makes the
  count exact however many workers reserve at once; a job left without room is held
  (pending again when the window ends, or missed when that is past its grace). What was
  reserved for a post that then did not go (held by a gate, cancelled, missed, given back
  at a stop) is returned with the next batch.

Per-account posting limits (X's 100 posts per 15 minutes per user, ``Limits``) are not
counted ahead: one process does not count them either, and a 429 closes the shared gate.

The cost is per claimed batch (up to DELIVERY_MAX_IN_FLIGHT jobs), never per post: a
SELECT of the open gates, one reservation statement when the batch has posts to a counted
network, and one UPDATE when posts are handed back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.ledger import Job
from bot.delivery.outcomes import Outcome
from bot.delivery.policy import RateGates
from bot.platforms.base import REQUESTS_PER_POST_TENTHS
from bot.platforms.mastodon.rules import instance_of
from bot.settings import Settings
from bot.storage.models import LimitWindow, RateGate

logger = logging.getLogger(__name__)

X_APP_WINDOW_SECONDS = 24 * 3600
ADDRESS_WINDOW_SECONDS = 5 * 60
# Outcomes after which nothing reached the platform: what was reserved for them goes back.
NOTHING_SENT = frozenset({Outcome.DEFERRED, Outcome.UNCLAIMED, Outcome.CANCELLED, Outcome.MISSED})
# Rows this long past their end are deleted (at most every CLEAN_EVERY_SECONDS).
KEEP_PAST = timedelta(hours=1)
CLEAN_EVERY_SECONDS = 600.0
DEADLOCK_RETRIES = 3


@dataclass(frozen=True)
class Allowance:
    """One budget shared by every worker: ``cap`` posts per fixed window of ``seconds``,
    windows aligned on the Unix epoch (a day's starts at 00:00 UTC)."""

    key: str
    cap: int
    seconds: int
    name: str  # said in a held delivery's message

    def window(self, now: datetime) -> datetime:
        start = int(now.timestamp()) // self.seconds * self.seconds
        return datetime.fromtimestamp(start, UTC)

    def ends(self, now: datetime) -> datetime:
        return self.window(now) + timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Hold:
    """A claimed job left without room: pending again at ``until``."""

    until: datetime
    why: str


Grant = tuple[str, datetime, int]  # key, window start, posts
T = TypeVar("T")


class SharedRateGates(RateGates):
    """``RateGates`` whose blocks are written to ``rate_gates`` and whose reads see every
    worker's blocks as of the last ``refresh`` (``open_at`` never touches the database:
    the dispatcher's event loop calls it)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__()
        self.sessions = sessions

    def block(self, platform: str, account_id: int, until: datetime) -> None:
        super().block(platform, account_id, until)
        insert = postgresql.insert(RateGate).values(
            platform=platform, account_id=account_id, until=until
        )
        statement = insert.on_conflict_do_update(
            index_elements=[RateGate.platform, RateGate.account_id],
            set_={"until": func.greatest(RateGate.until, insert.excluded.until)},
        )
        try:
            with self.sessions.begin() as session:
                session.execute(statement)
        except Exception:
            # This worker still waits; the others meet the 429 themselves.
            logger.exception(
                "could not record %s's rate-limit reset for the other workers", platform
            )

    def refresh(self, now: datetime) -> None:
        """Read every open gate (blocking)."""
        with self.sessions() as session:
            rows = session.execute(
                select(RateGate.platform, RateGate.account_id, RateGate.until).where(
                    RateGate.until > now
                )
            ).all()
        for platform, account_id, until in rows:
            RateGates.block(self, platform, account_id, until)


class SharedLimits:
    """The shared gates and allowances of one worker (see the module's docstring)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        x_app_daily_posts: int,
        bluesky_requests_per_5_minutes: int = 0,
        mastodon_requests_per_5_minutes: int = 0,
        refresh_seconds: float = 0.2,
    ) -> None:
        self.sessions = sessions
        self.gates = SharedRateGates(sessions)
        self.x_app_daily_posts = x_app_daily_posts
        self.bluesky_posts = _posts_for(bluesky_requests_per_5_minutes)
        self.mastodon_posts = _posts_for(mastodon_requests_per_5_minutes)
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._grants: dict[int, list[Grant]] = {}  # delivery id -> what it holds
        self._returns: Counter[tuple[str, datetime]] = Counter()
        self._refreshed_at = float("-inf")
        self._cleaned_at = float("-inf")
        # What the counting cost, said in the log as the worker stops.
        self.statements: Counter[str] = Counter()
        self.posts = 0  # posts reserved

    @classmethod
    def from_settings(cls, sessions: sessionmaker[Session], settings: Settings) -> SharedLimits:
        return cls(
            sessions,
            x_app_daily_posts=settings.x_app_daily_post_limit,
            bluesky_requests_per_5_minutes=settings.bluesky_requests_per_5_minutes,
            mastodon_requests_per_5_minutes=settings.mastodon_requests_per_5_minutes,
        )

    def allowances(self, job: Job) -> list[Allowance]:
        """The shared budgets one post of ``job`` counts against."""
        if job.platform == "x":
            return [
                Allowance(
                    "x:app",
                    self.x_app_daily_posts,
                    X_APP_WINDOW_SECONDS,
                    "X's per-app limit (X_APP_DAILY_POST_LIMIT)",
                )
            ]
        if job.platform == "bluesky" and self.bluesky_posts:
            return [
                Allowance(
                    "bluesky:address",
                    self.bluesky_posts,
                    ADDRESS_WINDOW_SECONDS,
                    "Bluesky's per-address limit (BLUESKY_REQUESTS_PER_5_MINUTES)",
                )
            ]
        if job.platform == "mastodon" and self.mastodon_posts:
            host = instance_of(job.account_handle)
            return [
                Allowance(
                    f"mastodon:{host}",
                    self.mastodon_posts,
                    ADDRESS_WINDOW_SECONDS,
                    f"{host or 'the Mastodon server'}'s per-address limit "
                    "(MASTODON_REQUESTS_PER_5_MINUTES)",
                )
            ]
        return []

    # --- per claimed batch (the dispatcher's database thread) ----------------------------

    def admit(self, jobs: Sequence[Job], now: datetime) -> dict[int, Hold]:
        """Refresh the gates, hand back what unsent posts held, and reserve what ``jobs``
        need: the jobs left without room, by delivery id, with when to try again.
        Blocking: one transaction per statement, none per post."""
        if time.monotonic() >= self._refreshed_at + self.refresh_seconds:
            self.gates.refresh(now)
            self._refreshed_at = time.monotonic()
            self.statements["gate reads"] += 1
        self.flush()
        self._clean(now)
        wanted: dict[int, list[tuple[Allowance, datetime, int]]] = {}
        totals: dict[tuple[str, datetime], int] = {}
        caps: dict[tuple[str, datetime], Allowance] = {}
        kinds: dict[tuple[str, str], list[Allowance]] = {}
        starts: dict[Allowance, datetime] = {}
        for job in jobs:
            posts = max(1, len(job.parts) - job.parts_done)
            kind = (job.platform, job.account_handle if job.platform == "mastodon" else "")
            allowances = kinds.get(kind)
            if allowances is None:
                allowances = kinds[kind] = self.allowances(job)
            for allowance in allowances:
                start = starts.get(allowance)
                if start is None:
                    start = starts[allowance] = allowance.window(now)
                wanted.setdefault(job.delivery_id, []).append((allowance, start, posts))
                totals[allowance.key, start] = totals.get((allowance.key, start), 0) + posts
                caps[allowance.key, start] = allowance
        if not totals:
            return {}
        granted = self._reserve({k: (n, caps[k].cap) for k, n in totals.items()})
        self.statements["reservations"] += 1
        left = dict(granted)
        held: dict[int, Hold] = {}
        grants: dict[int, list[Grant]] = {}
        for job in jobs:  # claim order: a post due first goes first
            needs = wanted.get(job.delivery_id)
            if not needs:
                continue
            short = [a for a, start, posts in needs if left.get((a.key, start), 0) < posts]
            if short:
                until = max(a.ends(now) for a in short)
                why = "waiting for " + " and ".join(a.name for a in short)
                held[job.delivery_id] = Hold(until, why)
                continue
            for allowance, start, posts in needs:
                left[allowance.key, start] -= posts
            grants[job.delivery_id] = [(a.key, start, posts) for a, start, posts in needs]
            self.posts += needs[0][2]
        with self._lock:
            self._grants.update(grants)
            self._returns.update({k: n for k, n in left.items() if n > 0})
        if any(n > 0 for n in left.values()):
            self.flush()
        return held

    def settle(self, job: Job, outcome: Outcome | None) -> None:
        """A job is finished: what it reserved stays spent, unless nothing was sent. A
        thread deferred or missed may have sent some of its parts before that (a 429 on
        the second part, a worker that lost its lease): its reservation stays spent —
        the allowance may then be under-used, never exceeded."""
        with self._lock:
            grants = self._grants.pop(job.delivery_id, None)
            maybe_part_sent = outcome in (Outcome.DEFERRED, Outcome.MISSED) and (
                len(job.parts) - job.parts_done > 1
            )
            if grants and outcome in NOTHING_SENT and not maybe_part_sent:
                for key, start, posts in grants:
                    self._returns[key, start] += posts

    def flush(self) -> None:
        """Hand back what unsent posts had reserved (blocking; sorted, so that workers
        lock rows in one order)."""
        with self._lock:
            returns, self._returns = self._returns, Counter()
        if not returns:
            return
        rows = [
            {"k": key, "ws": start, "n": posts} for (key, start), posts in sorted(returns.items())
        ]
        statement = (
            update(LimitWindow)
            .where(LimitWindow.key == bindparam("k"), LimitWindow.window_start == bindparam("ws"))
            .values(used=func.greatest(0, LimitWindow.used - bindparam("n")))
        )
        self.statements["hand-backs"] += 1
        try:
            self._retrying(lambda session: session.connection().execute(statement, rows))
        except Exception:
            with self._lock:
                self._returns.update(returns)
            raise

    def cost(self) -> str:
        """What the counting cost so far, in words for the log."""
        done = ", ".join(f"{n} {what}" for what, n in sorted(self.statements.items()))
        return f"{done or 'no statements'} for {self.posts} posts reserved"

    def _reserve(
        self, wants: dict[tuple[str, datetime], tuple[int, int]]
    ) -> dict[tuple[str, datetime], int]:
        """Take up to ``posts`` of each (key, window)'s ``cap``: what each got."""
        values = [
            {
                "key": key,
                "window_start": start,
                "cap": cap,
                "used": min(posts, cap),
                "granted": min(posts, cap),
            }
            for (key, start), (posts, cap) in sorted(wants.items())
        ]
        insert = postgresql.insert(LimitWindow).values(values)
        room = func.greatest(
            0, func.least(insert.excluded.used, insert.excluded.cap - LimitWindow.used)
        )
        # Every SET expression reads the row as it was: ``granted`` is this statement's
        # share, and the row lock orders concurrent reservations.
        statement = insert.on_conflict_do_update(
            index_elements=[LimitWindow.key, LimitWindow.window_start],
            set_={"cap": insert.excluded.cap, "granted": room, "used": LimitWindow.used + room},
        ).returning(LimitWindow.key, LimitWindow.window_start, LimitWindow.granted)

        def run(session: Session) -> dict[tuple[str, datetime], int]:
            rows = session.execute(statement).all()
            return {(key, start): granted for key, start, granted in rows}

        return self._retrying(run)

    def _retrying(self, work: Callable[[Session], T]) -> T:
        for attempt in range(DEADLOCK_RETRIES):
            try:
                with self.sessions.begin() as session:
                    return work(session)
            except OperationalError as exc:
                if "deadlock" not in str(exc) or attempt == DEADLOCK_RETRIES - 1:
                    raise
                logger.info("shared limits: deadlock with another worker; trying again")
        raise AssertionError("unreachable")

    def _clean(self, now: datetime) -> None:
        if time.monotonic() < self._cleaned_at + CLEAN_EVERY_SECONDS:
            return
        self._cleaned_at = time.monotonic()
        oldest = now - timedelta(seconds=X_APP_WINDOW_SECONDS) - KEEP_PAST
        with self.sessions.begin() as session:
            session.execute(delete(LimitWindow).where(LimitWindow.window_start < oldest))
            session.execute(delete(RateGate).where(RateGate.until < now - KEEP_PAST))


def _posts_for(requests_per_5_minutes: int) -> int:
    """Posts a request budget allows, with the margin the release planner keeps."""
    return requests_per_5_minutes * 10 // REQUESTS_PER_POST_TENTHS
