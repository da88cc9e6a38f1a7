"""The daemon: APScheduler is the clock, the database is the queue.

Every ``POLL_INTERVAL_SECONDS`` a sync job reads the distinct times at which deliveries
fall due soon and gives each time a one-off APScheduler job. When one fires, the
dispatcher (bot/delivery/dispatcher.py) claims every delivery due by then (conditional UPDATEs, in
batches) and sends them. So posts queued by another process (CLI, schedule files, the
web) go out on time without a restart, a post cancelled or moved after its time was
planned is simply not claimed, a release of 10,000 posts at one instant is one job, not
10,000, and nothing lives only in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.delivery import heartbeat
from bot.delivery.deliverer import Deliverer
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Missed, Sweeps
from bot.storage.lock import DaemonLock
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)


class Daemon:
    def __init__(
        self,
        deliverer: Deliverer,
        ledger: Ledger,
        lock: DaemonLock,
        *,
        poll_interval: float = 1.0,
        grace: timedelta = timedelta(minutes=15),
        concurrency: int = 16,
        max_in_flight: int = 1000,
        http_timeout: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        on_missed: Callable[[list[Missed]], None] | None = None,
        periodic: Sequence[tuple[str, Callable[[], object], float]] = (),
        stale_after: float = 120.0,
    ) -> None:
        """``concurrency``: threads for deliveries that need one (threads, checks, holds);
        ``max_in_flight``: deliveries claimed and unfinished at once (plain single posts go
        on asyncio). ``periodic``: (name, function, every seconds) housekeeping jobs, e.g.
        engagement snapshots; each runs in its own single-thread executor so it never
        delays posts."""
        self.deliverer = deliverer
        self.ledger = ledger
        self.sweeps = Sweeps(ledger.sessions, ledger.worker)
        self.lock = lock
        self.poll_interval = poll_interval
        # Plan jobs a little ahead so a due time is never discovered late by the poll.
        self.horizon = timedelta(seconds=max(10.0, 5 * poll_interval))
        self.grace = grace
        self.clock = clock
        self.on_missed = on_missed
        self.dispatcher = Dispatcher(
            deliverer,
            deliverer.ledger,
            deliverer.platforms,
            threads=concurrency,
            max_in_flight=max_in_flight,
            http_timeout=http_timeout,
            clock=clock,
        )
        self._planned: set[datetime] = set()
        self._planned_lock = threading.Lock()
        # Held while a sync adds a job and while stop() says "stopping": APScheduler's
        # shutdown(wait=True) holds its job-store lock while it waits for running jobs,
        # so a sync still adding a job then would wait on shutdown and shutdown on it.
        self._planning = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers=1),
                "sync": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1},
        )
        self.recovered = 0
        self.stopping = threading.Event()
        self.lost_lock = threading.Event()
        self.failure: str | None = None  # why the daemon stopped itself, if it did
        # A claim older than any request can take has no send in flight any more.
        self.stale_after = timedelta(seconds=stale_after)
        self.periodic = list(periodic)

    def start(self) -> None:
        """Take the lock (or raise AlreadyRunning), recover from a crash, start the clock."""
        self.lock.acquire()
        try:
            now = self.clock()
            self.recovered = self.sweeps.recover_interrupted(now)
            if self.recovered:
                logger.warning(
                    "%s deliveries were interrupted mid-send; checking the platforms before "
                    "resending any of them",
                    self.recovered,
                )
            self._report_missed(self.sweeps.mark_missed(now, self.grace))
            self.deliverer.ledger.start_group_commit()
            self.dispatcher.start()
            self.scheduler.add_job(
                self.sync,
                "interval",
                seconds=self.poll_interval,
                id="sync",
                executor="sync",
                next_run_time=datetime.now(UTC),
                coalesce=True,
            )
            for name, function, seconds in self.periodic:
                self.scheduler.add_executor(ThreadPoolExecutor(max_workers=1), alias=name)
                self.scheduler.add_job(
                    self._guarded(name, function),
                    "interval",
                    seconds=seconds,
                    id=name,
                    executor=name,
                    next_run_time=datetime.now(UTC),
                    coalesce=True,
                )
            self.scheduler.start()
        except BaseException:
            self._stop_sending()
            self.lock.release()
            raise

    def stop(self) -> None:
        """Let in-flight sends finish and record their outcome, then let go of the lock.
        Deliveries not started stay pending in the database for the next start."""
        with self._planning:  # after this, no sync adds a job (see __init__)
            self.stopping.set()
        self.dispatcher.halt()  # before waiting for housekeeping jobs: no new sends
        if self.scheduler.running:
            self.scheduler.remove_all_jobs()
            self.scheduler.shutdown(wait=True)
        self._stop_sending()
        # Before letting go of the lock: a daemon started next writes its own row.
        heartbeat.stopped(self.ledger.sessions, self.ledger.worker, self.clock())
        self.lock.release()

    def _stop_sending(self) -> None:
        self.dispatcher.stop()
        self.deliverer.ledger.stop_group_commit()

    def sync(self) -> int:
        """Plan a job for every delivery due within the horizon; returns how many new."""
        if self.stopping.is_set():
            return 0
        if not self.lock.still_held():
            logger.critical(
                "lost the one-daemon lock on the database; stopping so that no "
                "other daemon's sends are disturbed"
            )
            self.lost_lock.set()
            self.stopping.set()
            return 0
        if self.dispatcher.failure:
            logger.critical("%s; stopping the daemon: start it again", self.dispatcher.failure)
            self.failure = self.dispatcher.failure
            self.stopping.set()
            return 0
        now = self.clock()
        try:
            in_flight = self.dispatcher.in_flight()
            self.sweeps.release_stale(now - self.stale_after, in_flight, now)
            times = self.sweeps.due_times(now + self.horizon)
            self._report_missed(self.sweeps.mark_missed(now, self.grace, unapproved=True))
            heartbeat.beat(self.ledger.sessions, self.ledger.worker, now)
        except Exception:
            logger.exception("could not read the queue; trying again in %ss", self.poll_interval)
            return 0
        planned = 0
        for due_at in times:
            if due_at <= now:
                # Already due (a retry, a check, a claim given back): claim it now. Also
                # picks up what a busy dispatcher could not take at its time.
                self.dispatcher.wake()
                continue
            with self._planning:
                if self.stopping.is_set():
                    break
                with self._planned_lock:
                    if due_at in self._planned:
                        continue
                    self._planned.add(due_at)
                self.scheduler.add_job(
                    self._due,
                    "date",
                    run_date=due_at,
                    args=[due_at],
                    id=f"due-{due_at.isoformat()}",
                    replace_existing=True,
                )
            planned += 1
        return planned

    @staticmethod
    def _guarded(name: str, function: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                function()
            except Exception:
                logger.exception("%s failed; it runs again at its next interval", name)

        return run

    def _due(self, due_at: datetime) -> None:
        with self._planned_lock:
            self._planned.discard(due_at)
        if not self.stopping.is_set():
            self.dispatcher.wake()

    def _report_missed(self, missed: list[Missed]) -> None:
        if not missed:
            return
        for item in missed:
            logger.warning(
                "MISSED %s on @%s: was due %s UTC; not sent late",
                item.label,
                item.account,
                f"{item.due_at:%Y-%m-%d %H:%M:%S}",
            )
        if self.on_missed is not None:
            self.on_missed(missed)
