"""The dispatcher: claims due deliveries in batches and keeps many sends in flight.

APScheduler (bot/delivery/daemon.py) is the clock: at every moment something falls due it wakes
the dispatcher, which claims what is due — one conditional UPDATE for up to
``claim_batch`` rows, committed before any network call — and sends each claimed job:

- a plain single post (``Deliverer.simple``) on asyncio, through the platform's
  ``async_publisher`` when it has one: hundreds in flight on one thread, for a release;
- a single post whose outcome is unknown (after a crash: every send that was under way)
  on asyncio too, through the platform's ``AsyncReconciler``: the claimed ones of each
  account are looked for in one read (X's timeline, a Page's feed), those found are
  recorded as sent, those provably absent are sent once (``Deliverer.reconcile``);
- everything else (threads, posts Facebook holds, rate gates, platforms without an async
  path) through ``Deliverer.run_claimed`` on a pool of ``threads`` threads.

At most ``max_in_flight`` jobs are claimed and unfinished at once. Deliveries whose outcome
is unknown are claimed as room allows when the platforms can settle them on asyncio, and
otherwise only as threads come free, so a claim is always close to its look and send.
Each claim takes ordinary posts first, then unknown outcomes, then a pledge release's
posts (``Ledger.claim_due``): a reminder due during a release of 11,000 posts waits for
a free slot, never for the release.

Results are recorded by the ledger's group commit. On stop nothing new is claimed; sends
under way finish and are recorded; claimed jobs that had not started are given back
(``Ledger.unclaim``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from bot.delivery.deliverer import Deliverer
from bot.delivery.ledger import EVER, Job, Ledger
from bot.delivery.outcomes import Outcome
from bot.delivery.shared_limits import Hold, SharedLimits
from bot.platforms.base import AsyncPublisher, AsyncReconciler, Platform
from bot.platforms.http import async_session
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

FULL_LOOK_SECONDS = 2.0


class Dispatcher:
    def __init__(
        self,
        deliverer: Deliverer,
        ledger: Ledger,
        platforms: Mapping[str, Platform],
        *,
        threads: int = 16,
        max_in_flight: int = 1000,
        claim_batch: int = 500,
        http_timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        limits: SharedLimits | None = None,
    ) -> None:
        """``limits``: count rate limits in the database, shared with other workers
        (``run --role worker``); None keeps them in this process's memory."""
        self.deliverer = deliverer
        self.ledger = ledger
        self.platforms = platforms
        self.threads = max(1, threads)
        self.max_in_flight = max(1, max_in_flight)
        self.claim_batch = max(1, claim_batch)
        self.http_timeout = http_timeout
        self.clock = clock
        self.limits = limits
        if limits is not None:
            deliverer.gates = limits.gates
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="clarion-send")
        self._db = ThreadPoolExecutor(1, thread_name_prefix="clarion-claim")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._wake: asyncio.Event | None = None
        self.stopping = False  # set once by stop(); nothing new starts after it
        self._jobs: dict[int, Job] = {}  # claimed and not finished: the loop's own
        self._jobs_lock = threading.Lock()
        self._threaded = 0  # jobs handed to the thread pool and not finished
        self._saturated = False
        self._reconcilers: dict[str, AsyncReconciler] = {}  # set by the loop
        # Whether the next claim looks for ordinary posts, and from which due time. The
        # lane reads only rows due since its last look that found them all; a full look
        # (every due pending row: 36 ms beside 11,000 release posts, measured) is made at
        # most every FULL_LOOK_SECONDS, for rows given back or queued with a past time. It
        # runs when the clock or the poll says something fell due, not on every slot a
        # finished send frees during a release.
        self._ordinary_due = True
        self._ordinary_from = EVER
        self._full_look_at = 0.0
        self.outcomes: dict[Outcome, int] = {}
        deliverer.metrics.watch_in_flight(lambda: len(self._jobs))
        self.failure: str | None = None

    # --- life cycle (called from the daemon's thread) -----------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="clarion-dispatch", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self.failure:
            raise RuntimeError(self.failure or "the delivery dispatcher did not start")

    def wake(self) -> None:
        """Something may be due: claim what is (safe from any thread)."""
        self._ordinary_due = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: stopping
                loop.call_soon_threadsafe(wake.set)

    def halt(self) -> None:
        """Claim nothing more from now on (safe from any thread)."""
        self.stopping = True
        self.wake()

    def stop(self) -> None:
        """Claim nothing more, let sends under way finish and be recorded, give back
        claims that had not started."""
        self.halt()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True)
        self._db.shutdown(wait=True)
        if self.limits is not None:
            try:  # what the given-back claims had reserved
                self.limits.flush()
                logger.info("shared rate limits: %s", self.limits.cost())
            except Exception:
                logger.exception(
                    "could not hand back reserved rate-limit room; it is freed when its window ends"
                )

    def in_flight(self) -> frozenset[int]:
        """Deliveries claimed by this dispatcher and not yet recorded."""
        with self._jobs_lock:
            return frozenset(self._jobs)

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            # Nothing can be sent any more: say so, and let the daemon stop (its sync
            # checks ``failure``) rather than run on without sending.
            self.failure = f"the delivery dispatcher stopped: {type(exc).__name__}: {exc}"
            logger.critical("%s", self.failure, exc_info=True)
            self._ready.set()
        finally:
            loop.close()

    async def _main(self) -> None:
        self._wake = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()
        async with async_session(timeout=self.http_timeout, limit=self.max_in_flight) as session:
            publishers: dict[str, AsyncPublisher] = {}
            for name, platform in self.platforms.items():
                factory = getattr(platform, "async_publisher", None)
                if factory is not None:
                    publishers[name] = factory(session)
            self._reconcilers = {
                name: publisher
                for name, publisher in publishers.items()
                if isinstance(publisher, AsyncReconciler)
            }
            self._ready.set()
            while not self.stopping:
                await self._wake.wait()
                self._wake.clear()
                await self._claim_all(publishers, tasks)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _claim_all(
        self, publishers: dict[str, AsyncPublisher], tasks: set[asyncio.Task[None]]
    ) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            with self._jobs_lock:
                room = min(self.claim_batch, self.max_in_flight - len(self._jobs))
            self._saturated = room <= 0
            if room <= 0:
                return  # a finishing send wakes us
            threads_free = max(0, self.threads - self._threaded)
            # Unknown outcomes the asyncio path can settle need no thread; one that turns
            # out to need one (a thread, a held post) waits for it, claimed.
            unknown = room if self._reconcilers else threads_free
            ordinary, self._ordinary_due = self._ordinary_due, False
            now, since = self.clock(), None
            full = time.monotonic() >= self._full_look_at
            if ordinary:
                since = EVER if full else self._ordinary_from
            claim = functools.partial(
                self.ledger.claim_due, now, room, unknown, ordinary_since=since
            )
            try:
                jobs = await loop.run_in_executor(self._db, claim)
            except Exception:
                self._ordinary_due = self._ordinary_due or ordinary
                logger.exception("could not claim due deliveries; trying again at the next poll")
                return
            if ordinary:
                if sum(not job.check_first and not job.release for job in jobs) < room:
                    self._ordinary_from = now  # every ordinary post due by now is claimed
                    if full:
                        self._full_look_at = time.monotonic() + FULL_LOOK_SECONDS
                else:  # the room ran out first: look again from the same time
                    self._ordinary_due = True
            if self.stopping:  # claimed while the stop came: give them back unsent
                await loop.run_in_executor(self._db, self._give_back, jobs)
                return
            with self._jobs_lock:
                self._jobs.update((job.delivery_id, job) for job in jobs)
            held: dict[int, Hold] = {}
            if self.limits is not None and jobs:
                admit = functools.partial(self.limits.admit, jobs, self.clock())
                try:
                    held = await loop.run_in_executor(self._db, admit)
                except Exception:
                    logger.exception(
                        "could not count the shared rate limits; giving the claims back "
                        "and trying again at the next poll"
                    )
                    try:
                        await loop.run_in_executor(self._db, self._give_back, jobs)
                    except Exception:  # the database is away: the stale-claim sweep frees them
                        logger.exception("could not give the claims back either")
                    for job in jobs:
                        self._finish(job, Outcome.UNCLAIMED)
                    return
            now = self.clock()
            batches: dict[tuple[str, int], list[Job]] = {}
            for job in jobs:
                hold = held.get(job.delivery_id)
                if hold is not None:
                    task = loop.create_task(self._hold(job, hold))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    continue
                if job.platform in self._reconcilers and self.deliverer.settleable(job, now):
                    batches.setdefault((job.platform, job.account_id), []).append(job)
                    continue
                task = loop.create_task(self._send(job, publishers.get(job.platform)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            for (platform, _), batch in batches.items():
                task = loop.create_task(
                    self._settle(batch, self._reconcilers[platform], publishers[platform])
                )
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if len(jobs) < room:
                return  # nothing more is due now

    async def _send(
        self, job: Job, publisher: AsyncPublisher | None, *, absent: bool = False
    ) -> None:
        """Send one claimed job; ``absent``: its unknown outcome was just settled as not on
        the platform (``_settle``), so it goes out as a ``simple`` one would."""
        loop = asyncio.get_running_loop()
        outcome: Outcome | None = None
        try:
            if self.stopping:  # claimed just before the stop: back to the queue, unsent
                outcome = await loop.run_in_executor(self._pool, self._give_back_one, job)
            elif publisher is not None and (absent or self.deliverer.simple(job, self.clock())):
                try:
                    outcome = await self.deliverer.send_simple(job, publisher)
                except Exception as exc:
                    outcome = await loop.run_in_executor(
                        self._pool, self.deliverer.after_failure, job, exc
                    )
            else:
                self._threaded += 1
                try:
                    outcome = await loop.run_in_executor(self._pool, self._threaded_run, job)
                finally:
                    self._threaded -= 1
        except Exception:  # never leave the claim counted as in flight
            logger.exception(
                "delivery %s (%s): dispatch failed", job.delivery_id, job.label, extra=job.log_ids
            )
        finally:
            self._finish(job, outcome)

    async def _settle(
        self, jobs: list[Job], reconciler: AsyncReconciler, publisher: AsyncPublisher
    ) -> None:
        """Look for one account's unknown outcomes in one read; send, each under its own
        claim, those provably not there."""
        loop = asyncio.get_running_loop()
        if self.stopping:  # claimed just before the stop: back to the queue, unlooked
            for job in jobs:
                await self._send(job, publisher)
            return
        try:
            verdicts = await self.deliverer.reconcile(jobs, reconciler)
        except Exception as exc:  # a bug of ours: record as the thread path would
            logger.exception("reconciling %s deliveries failed", len(jobs))
            verdicts = [
                await loop.run_in_executor(self._pool, self.deliverer.after_failure, job, exc)
                for job in jobs
            ]
        absent = []
        for job, verdict in zip(jobs, verdicts, strict=True):
            if verdict is None:  # provably absent: send it now, once
                absent.append(self._send(job, publisher, absent=True))
            else:
                self._finish(job, verdict)
        await asyncio.gather(*absent)

    async def _hold(self, job: Job, hold: Hold) -> None:
        """Put back a claimed job a shared allowance has no room for."""
        loop = asyncio.get_running_loop()
        outcome: Outcome | None = None
        try:
            outcome = await loop.run_in_executor(
                self._pool, self.deliverer.hold, job, hold.until, hold.why
            )
        except Exception:  # never leave the claim counted as in flight
            logger.exception(
                "delivery %s (%s): could not hold it", job.delivery_id, job.label, extra=job.log_ids
            )
        finally:
            self._finish(job, outcome)

    def _finish(self, job: Job, outcome: Outcome | None) -> None:
        """Count a job's outcome and forget its claim (it is recorded)."""
        if outcome is not None:
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
            self.deliverer.metrics.attempt(job.platform, outcome)
        self.deliverer.finished(job)
        if self.limits is not None:
            self.limits.settle(job, outcome)
        with self._jobs_lock:
            self._jobs.pop(job.delivery_id, None)
        if self._saturated and self._wake is not None:
            self._wake.set()

    def _give_back_one(self, job: Job) -> Outcome:
        self.ledger.unclaim(job, self.clock())
        return Outcome.UNCLAIMED

    def _give_back(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._give_back_one(job)

    def _threaded_run(self, job: Job) -> Outcome:
        if self.stopping:  # claimed but not started: back to the queue for the next start
            self.ledger.unclaim(job, self.clock())
            return Outcome.UNCLAIMED
        if not job.check_first and self.ledger.post_cancelled(job):
            # It may have waited for a thread: a cancel in the meantime must hold.
            self.ledger.cancelled_unsent(job, self.clock())
            return Outcome.CANCELLED
        return self.deliverer.run_claimed(job)
