"""The daemon: APScheduler is the clock, the database is the queue.

Every ``POLL_INTERVAL_SECONDS`` a sync job reads the deliveries due soon and gives each a
one-off APScheduler job at its due time carrying only the delivery id. When the job fires,
the deliverer claims the row (a conditional UPDATE) and sends. So posts queued by another
process (CLI, schedule files, the web) go out on time without a restart, a post cancelled
or moved after its job was planned is simply not claimed, and nothing lives only in memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.db.lock import DaemonLock
from bot.db.models import utcnow
from bot.delivery import Deliverer
from bot.ledger import Ledger, Missed

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
        clock: Callable[[], datetime] = utcnow,
        on_missed: Callable[[list[Missed]], None] | None = None,
        periodic: Sequence[tuple[str, Callable[[], object], float]] = (),
        stale_after: float = 120.0,
    ) -> None:
        """``periodic``: (name, function, every seconds) housekeeping jobs, e.g. engagement
        snapshots; each runs in its own single-thread executor so it never delays posts."""
        self.deliverer = deliverer
        self.ledger = ledger
        self.lock = lock
        self.poll_interval = poll_interval
        # Plan jobs a little ahead so a due time is never discovered late by the poll.
        self.horizon = timedelta(seconds=max(10.0, 5 * poll_interval))
        self.grace = grace
        self.clock = clock
        self.on_missed = on_missed
        self._planned: dict[int, datetime] = {}
        self._planned_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={
                "default": ThreadPoolExecutor(max_workers=concurrency),
                "sync": ThreadPoolExecutor(max_workers=1),
            },
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1},
        )
        self.recovered = 0
        self.stopping = threading.Event()
        self.lost_lock = threading.Event()
        # A claim older than any request can take has no send in flight any more.
        self.stale_after = timedelta(seconds=stale_after)
        self.periodic = list(periodic)

    def start(self) -> None:
        """Take the lock (or raise AlreadyRunning), recover from a crash, start the clock."""
        self.lock.acquire()
        try:
            now = self.clock()
            self.recovered = self.ledger.recover_interrupted(now)
            if self.recovered:
                logger.warning(
                    "%s deliveries were interrupted mid-send; checking the platforms before "
                    "resending any of them",
                    self.recovered,
                )
            self._report_missed(self.ledger.mark_missed(now, self.grace))
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
            self.lock.release()
            raise

    def stop(self) -> None:
        """Let in-flight sends finish and record their outcome, then let go of the lock.
        Deliveries not started stay pending in the database for the next start."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.remove_all_jobs()
            self.scheduler.shutdown(wait=True)
        self.lock.release()

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
        now = self.clock()
        try:
            self.ledger.release_stale(now - self.stale_after, self.deliverer.in_flight())
            due = self.ledger.due(now + self.horizon)
        except Exception:
            logger.exception("could not read the queue; trying again in %ss", self.poll_interval)
            return 0
        planned = 0
        for delivery_id, due_at in due:
            with self._planned_lock:
                if self._planned.get(delivery_id) == due_at:
                    continue
                self._planned[delivery_id] = due_at
            self.scheduler.add_job(
                self._deliver,
                "date",
                run_date=due_at,
                args=[delivery_id],
                id=f"delivery-{delivery_id}",
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

    def _deliver(self, delivery_id: int) -> None:
        try:
            if self.stopping.is_set():  # stays pending for the next start
                return
            self.deliverer.run(delivery_id)
        finally:
            with self._planned_lock:
                self._planned.pop(delivery_id, None)

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
