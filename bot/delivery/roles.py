"""The scaled-out roles on PostgreSQL: one active scheduler, any number of workers.

The single-machine daemon (bot/delivery/daemon.py) is the clock and the sender in one
process. Scaled out, they part:

- the **scheduler** (exactly one active; standbys wait on its lock, bot/delivery/leases.py)
  runs the sweeps — claims of dead workers, posts not approved by their time — and, for
  every time at which deliveries fall due, defers Procrastinate jobs (bot/delivery/jobs.py)
  due at that time, one copy per live worker, so a release is shared among them;
- each **worker** runs the same Dispatcher as the daemon and a Procrastinate worker whose
  job wakes it. The dispatcher claims with conditional UPDATEs, so workers never send the
  same delivery; a job run twice claims nothing more. Each worker holds a lease (an
  advisory lock that dies with it) and writes its own heartbeat.

Housekeeping jobs (engagement snapshots, pledge releases, alerts) run in the active
scheduler only.

Both roles say how they stand for /readyz (``state``, ``conditions()``, read by
bot/monitoring/health.py's ``RoleReadiness``) and what they counted for /metrics
(``figures()``), and both write heartbeats (bot/delivery/heartbeat.py) that
`python main.py status` lists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Engine

from bot.delivery import heartbeat, jobs, leases
from bot.delivery.deliverer import Deliverer
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ledger import Ledger
from bot.delivery.shared_limits import SharedLimits
from bot.delivery.sweeps import Missed, Sweeps
from bot.monitoring.health import Condition
from bot.monitoring.metrics import Figure
from bot.storage.lock import AlreadyRunning
from bot.storage.models import utcnow

logger = logging.getLogger(__name__)

Periodic = Sequence[tuple[str, Callable[[], object], float]]


class State(StrEnum):
    """How a scheduler or a worker stands (/readyz's ``state``)."""

    STARTING = "starting"
    ACTIVE = "active"  # the scheduler that holds the scheduler lock
    STANDBY = "standby"  # a scheduler waiting to take over
    RUNNING = "running"  # a worker, claiming and sending
    STOPPING = "stopping"
    FAILED = "failed"


def _age(since: float | None) -> float | None:
    return None if since is None else round(time.monotonic() - since, 1)


class Scheduler:
    """One scheduler process: a standby until it holds the scheduler lock, then active."""

    def __init__(
        self,
        ledger: Ledger,
        database_url: str,
        *,
        poll_interval: float = 1.0,
        retry_every: float = 1.0,
        grace: timedelta = timedelta(minutes=15),
        lease_after: timedelta = timedelta(seconds=40),
        clock: Callable[[], datetime] = utcnow,
        on_missed: Callable[[list[Missed]], None] | None = None,
        periodic: Periodic = (),
    ) -> None:
        """``retry_every``: how often a standby tries the lock. ``lease_after``: how long a
        worker's lease must have been seen gone before its claims are settled as
        ``unknown`` (``leases.settle_wait``: longer than any request it may still make)."""
        self.sessions = ledger.sessions
        self.engine: Engine = ledger.sessions.kw["bind"]
        self.name = heartbeat.holder(
            heartbeat.Kind.SCHEDULER, f"{socket.gethostname()}:{os.getpid()}"
        )
        self.sweeps = Sweeps(ledger.sessions, self.name)
        self.lock = leases.scheduler_lock(self.engine)
        self.app = jobs.make_app(database_url, pool_size=2)
        self.poll_interval = poll_interval
        self.retry_every = retry_every
        # As the daemon: plan ahead so a due time is never discovered late by the poll.
        self.horizon = timedelta(seconds=max(10.0, 5 * poll_interval))
        self.grace = grace
        self.dead_claims = leases.DeadClaims(self.engine, lease_after.total_seconds())
        self.clock = clock
        self.on_missed = on_missed
        self.periodic = list(periodic)
        self.active = threading.Event()
        self.stopping = threading.Event()
        self.failure: str | None = None
        self.deferred = 0  # jobs deferred while active (/metrics)
        self.settled = 0  # claims of dead workers settled as unknown (/metrics)
        self.live_workers = 0  # workers holding a lease at the last plan (/metrics)
        # When the loop last went round (monotonic): a loop stuck longer than
        # ``stuck_after`` makes /readyz unready.
        self.went_round: float | None = None
        self.stuck_after = max(30.0, 5 * poll_interval, 5 * retry_every)
        self._planned: set[tuple[datetime, int]] = set()
        self._housekeeping: dict[str, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        """Start waiting for (or holding) the lock. Raises ``AlreadyRunning`` when a
        single-machine daemon runs on this database."""
        # Fail now, not in the thread, beside a single-machine daemon; the loop takes the
        # lock again and takes over properly.
        if self.lock.try_acquire():
            self.lock.release()
        self._thread = threading.Thread(target=self._run, name="clarion-scheduler", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the scheduler did not start")
        if self.failure:
            raise RuntimeError(self.failure)

    def stop(self) -> None:
        """Stop planning and the housekeeping (a round under way finishes), then let go
        of the lock for a standby."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join()
        self.active.clear()
        for thread in self._housekeeping.values():
            thread.join()
        heartbeat.stopped(self.sessions, self.name, self.clock())
        self.lock.release()

    # --- how it stands -------------------------------------------------------------------

    @property
    def role(self) -> str:
        return heartbeat.Kind.SCHEDULER

    @property
    def state(self) -> State:
        if self.failure:
            return State.FAILED
        if self.stopping.is_set():
            return State.STOPPING
        if self.went_round is None:
            return State.STARTING
        return State.ACTIVE if self.active.is_set() else State.STANDBY

    def conditions(self) -> list[Condition]:
        """Ready while active or standing by with its loop going round: a standby is
        doing its work (waiting to take over), so it is ready too."""
        state = self.state
        age = _age(self.went_round)
        detail = {"state": str(state), "last_round_age_seconds": age}
        if state in (State.ACTIVE, State.STANDBY):
            if age is not None and age > self.stuck_after:
                why = (
                    f"its loop has not gone round for {age:.0f} s (more than "
                    f"{self.stuck_after:.0f} s); restart it"
                )
                return [Condition("scheduler", False, detail, why)]
            return [Condition("scheduler", True, detail)]
        why = {
            State.STARTING: "starting",
            State.STOPPING: "stopping",
            State.FAILED: f"{self.failure}; restart it",
        }[state]
        return [Condition("scheduler", False, detail, why)]

    def figures(self) -> list[Figure]:
        """What /metrics shows of this scheduler."""
        return [
            Figure(
                "scheduler_active",
                "1 while this scheduler is the active one, 0 while it stands by",
                1.0 if self.active.is_set() else 0.0,
            ),
            Figure(
                "scheduler_jobs_deferred",
                "Delivery jobs this scheduler deferred on the queue while active",
                self.deferred,
                counter=True,
            ),
            Figure(
                "scheduler_dead_claims_settled",
                "Claims of dead workers this scheduler settled as unknown (looked for on "
                "the platform before any resend)",
                self.settled,
                counter=True,
            ),
            Figure(
                "scheduler_live_workers",
                "Workers holding a lease at this scheduler's last plan (0 on a standby)",
                self.live_workers if self.active.is_set() else 0,
            ),
        ]

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.failure = f"the scheduler stopped: {type(exc).__name__}: {exc}"
            logger.critical("%s", self.failure, exc_info=True)
            self.stopping.set()
        finally:
            self._ready.set()

    async def _main(self) -> None:
        async with self.app.open_async():
            self._ready.set()
            while not self.stopping.is_set():
                self.went_round = time.monotonic()
                await asyncio.to_thread(heartbeat.beat, self.sessions, self.name, self.clock())
                if not self.lock.held:
                    if not await asyncio.to_thread(self.lock.try_acquire):
                        await self._pause(self.retry_every)
                        continue
                    await asyncio.to_thread(self._take_over)
                elif not await asyncio.to_thread(self.lock.still_held):
                    logger.critical("lost the scheduler lock on the database; standing by again")
                    self.active.clear()
                    self.lock.release()
                    continue
                try:
                    await self._plan()
                except Exception:
                    logger.exception(
                        "could not read the queue; trying again in %ss", self.poll_interval
                    )
                await self._pause(self.poll_interval)
            self.active.clear()

    async def _pause(self, seconds: float) -> None:
        end = asyncio.get_running_loop().time() + seconds
        while not self.stopping.is_set():
            left = end - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.1))

    def _take_over(self) -> None:
        logger.warning("%s is now the active scheduler", self.name)
        self._planned.clear()
        self.dead_claims.forget()  # what it saw before standing by may be out of date
        now = self.clock()
        self._report_missed(self.sweeps.mark_missed(now, self.grace))
        self.active.set()
        for name, function, seconds in self.periodic:
            running = self._housekeeping.get(name)
            if running is not None and running.is_alive():
                continue  # still going from before a lost lock: it carries on
            thread = threading.Thread(
                target=self._every,
                args=(name, function, seconds),
                name=f"clarion-{name}",
                daemon=True,
            )
            self._housekeeping[name] = thread
            thread.start()

    def _every(self, name: str, function: Callable[[], object], seconds: float) -> None:
        """A housekeeping job, while this scheduler is the active one."""
        while self.active.is_set() and not self.stopping.is_set():
            try:
                function()
            except Exception:
                logger.exception("%s failed; it runs again at its next interval", name)
            self.stopping.wait(seconds)

    async def _plan(self) -> None:
        now = self.clock()
        self.settled += await asyncio.to_thread(self.dead_claims.sweep, now)
        missed = await asyncio.to_thread(self.sweeps.mark_missed, now, self.grace, unapproved=True)
        self._report_missed(missed)
        times = await asyncio.to_thread(self.sweeps.due_times, now + self.horizon)
        self.live_workers = await asyncio.to_thread(leases.live_workers, self.engine)
        copies = max(1, self.live_workers)
        if any(due_at <= now for due_at in times):
            # Already due (a retry, a check, a claim given back): every worker claims now.
            for copy in range(copies):
                self.deferred += await jobs.defer_due(self.app, None, copy)
        for due_at in times:
            if due_at <= now:
                continue
            for copy in range(copies):
                if (due_at, copy) in self._planned:
                    continue
                self.deferred += await jobs.defer_due(self.app, due_at, copy)
                self._planned.add((due_at, copy))
        self._planned = {(t, c) for t, c in self._planned if t > now}

    def _report_missed(self, missed: list[Missed]) -> None:
        for item in missed:
            logger.warning(
                "MISSED %s on @%s: was due %s UTC; not sent late",
                item.label,
                item.account,
                f"{item.due_at:%Y-%m-%d %H:%M:%S}",
            )
        if missed and self.on_missed is not None:
            self.on_missed(missed)


# How often a worker asks the database whether it still holds its lease: well within
# leases.LEASE_TRUST_SECONDS, whatever POLL_INTERVAL_SECONDS is.
LEASE_CHECK_SECONDS = 2.5


class Worker:
    """One worker process: a Dispatcher woken by Procrastinate jobs, under a lease."""

    def __init__(
        self,
        deliverer: Deliverer,
        ledger: Ledger,
        database_url: str,
        *,
        poll_interval: float = 1.0,
        concurrency: int = 16,
        max_in_flight: int = 1000,
        http_timeout: float = 30.0,
        stale_after: float = 120.0,
        clock: Callable[[], datetime] = utcnow,
        limits: SharedLimits | None = None,
    ) -> None:
        """``limits``: the rate limits counted in the database with the other workers
        (bot/delivery/shared_limits.py); the role always gives them."""
        self.deliverer = deliverer
        self.ledger = ledger
        self.engine: Engine = ledger.sessions.kw["bind"]
        self.name = ledger.worker
        self.holder = heartbeat.holder(heartbeat.Kind.WORKER, ledger.worker)
        self.sweeps = Sweeps(ledger.sessions, ledger.worker)
        self.lease = leases.worker_lease(self.engine, ledger.worker)
        self.app = jobs.make_app(database_url)
        self.poll_interval = poll_interval
        self.stale_after = timedelta(seconds=stale_after)
        self.clock = clock
        self.dispatcher = Dispatcher(
            deliverer,
            deliverer.ledger,
            deliverer.platforms,
            threads=concurrency,
            max_in_flight=max_in_flight,
            http_timeout=http_timeout,
            clock=clock,
            limits=limits,
        )
        self.stopping = threading.Event()
        self.lost_lock = threading.Event()
        self.failure: str | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = threading.Event()
        # When the lease was last seen held (time.monotonic()); see ``may_send``.
        self.lease_confirmed = 0.0
        deliverer.may_send = self.may_send

    def may_send(self) -> str | None:
        """None while this worker may start a request: it saw its lease held within
        ``leases.LEASE_TRUST_SECONDS``. Else why not. The scheduler settles a dead worker's
        claims only after its lease has been gone longer than that plus a request's
        timeout (``leases.DeadClaims``), so a worker cut off from the database, even one
        whose check hangs, never sends beside the worker that takes its claims over."""
        age = time.monotonic() - self.lease_confirmed
        if self.lost_lock.is_set() or age > leases.LEASE_TRUST_SECONDS:
            return f"this worker has not seen its lease on the database for {age:.0f} s"
        return None

    def start(self) -> None:
        """Take the lease, start the dispatcher and the job worker. Raises
        ``AlreadyRunning`` when a single-machine daemon runs on this database."""
        if not self.lease.try_acquire():
            raise AlreadyRunning(f"another worker already runs as {self.name}")
        self.lease_confirmed = time.monotonic()
        try:
            self.deliverer.ledger.start_group_commit()
            self.dispatcher.start()
            self._thread = threading.Thread(target=self._run, name="clarion-jobs", daemon=True)
            self._thread.start()
            if not self._ready.wait(30) or self.failure:
                raise RuntimeError(self.failure or "the job worker did not start")
        except BaseException:
            self._stop_sending()
            self.lease.release()
            raise
        self.dispatcher.wake()  # whatever is due already

    def stop(self) -> None:
        """Claim nothing more; let sends under way finish and be recorded; let go of the
        lease last, so the scheduler never settles a claim that is still being sent."""
        self.stopping.set()
        self.dispatcher.halt()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join()
        self._stop_sending()
        heartbeat.stopped(self.ledger.sessions, self.holder, self.clock())
        self.lease.release()

    # --- how it stands -------------------------------------------------------------------

    @property
    def role(self) -> str:
        return heartbeat.Kind.WORKER

    @property
    def state(self) -> State:
        if self.failure or self.dispatcher.failure or self.lost_lock.is_set():
            return State.FAILED
        if self.stopping.is_set():
            return State.STOPPING
        if not self.lease.held or self._thread is None:
            return State.STARTING
        return State.RUNNING

    def conditions(self) -> list[Condition]:
        """Ready while it holds its lease (asked of the database now, on the lease's own
        connection), its dispatcher runs and its job worker listens."""
        held = self.lease.still_held()
        lease = Condition("lease", True, {"held": True})
        if not held:
            lease = Condition(
                "lease",
                False,
                {"held": False},
                "this worker does not hold its lease on the database (lost, or not yet "
                "taken); a worker that lost it stops so that its claims are settled "
                "safely, and its supervisor starts it again",
            )
        failure = self.dispatcher.failure
        running = failure is None and not self.stopping.is_set() and self._thread is not None
        dispatcher = Condition(
            "dispatcher",
            running,
            {"running": running, "in_flight": len(self.dispatcher.in_flight())},
            f"{failure}; restart the worker"
            if failure
            else ("stopping" if self.stopping.is_set() else "starting"),
        )
        listening = self._thread is not None and self._thread.is_alive() and not self.failure
        listener = Condition(
            "jobs",
            listening,
            {"listening": listening},
            f"{self.failure}; restart the worker"
            if self.failure
            else "the job worker is not running",
        )
        return [lease, dispatcher, listener]

    def figures(self) -> list[Figure]:
        """What /metrics shows of this worker, beside the engine's own counters (claims,
        sends by outcome, in flight)."""
        return [
            Figure(
                "worker_lease_held",
                "1 while this worker holds its lease (as of its last poll)",
                1.0 if self.lease.held and not self.lost_lock.is_set() else 0.0,
            ),
            Figure(
                "worker_dispatcher_running",
                "1 while this worker's dispatcher claims and sends",
                1.0 if self.state is State.RUNNING else 0.0,
            ),
        ]

    def _stop_sending(self) -> None:
        self.dispatcher.stop()
        self.deliverer.ledger.stop_group_commit()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self.stopping.is_set():
                self.failure = f"the job worker stopped: {type(exc).__name__}: {exc}"
                logger.critical("%s", self.failure, exc_info=True)
                self.stopping.set()
                self.dispatcher.halt()
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        async with self.app.open_async():
            self._task = asyncio.current_task()
            watch = asyncio.create_task(self._watch())
            self._ready.set()
            try:
                await self.app.run_worker_async(
                    queues=[jobs.QUEUE],
                    name=self.name,
                    concurrency=4,
                    install_signal_handlers=False,
                    listen_notify=True,
                    # A job is due at its schedule_at; NOTIFY only announces new jobs,
                    # so the poll is what finds a job whose time has come.
                    fetch_job_polling_interval=min(self.poll_interval, 0.5),
                    delete_jobs="always",
                    additional_context={jobs.WAKE: self.dispatcher.wake},
                )
            except asyncio.CancelledError:
                if not self.stopping.is_set():
                    raise
            finally:
                watch.cancel()

    async def _watch(self) -> None:
        """Every few seconds the lease (``may_send`` trusts a check for
        ``LEASE_TRUST_SECONDS``); every poll the dispatcher, this worker's own stale claims
        and the heartbeat."""
        next_sweep = 0.0
        while not self.stopping.is_set():
            # Trusted from when it was asked, not answered: a slow answer says the lease
            # was held at some moment since the question, no later.
            asked = time.monotonic()
            if not await asyncio.to_thread(self.lease.still_held):
                logger.critical(
                    "lost this worker's lease on the database (was it restarted?); "
                    "stopping so that its claims can be settled safely"
                )
                self.lost_lock.set()
                self.stopping.set()
                self.dispatcher.halt()
                return
            self.lease_confirmed = asked
            if time.monotonic() < next_sweep:
                await asyncio.sleep(LEASE_CHECK_SECONDS)
                continue
            next_sweep = time.monotonic() + self.poll_interval
            if self.dispatcher.failure:
                logger.critical("%s; stopping the worker: start it again", self.dispatcher.failure)
                self.failure = self.dispatcher.failure
                self.stopping.set()
                return
            now = self.clock()
            try:
                in_flight = self.dispatcher.in_flight()
                await asyncio.to_thread(
                    self.sweeps.release_stale, now - self.stale_after, in_flight, now
                )
                await asyncio.to_thread(heartbeat.beat, self.ledger.sessions, self.holder, now)
            except Exception:
                logger.exception("could not sweep this worker's claims; trying again")
            await asyncio.sleep(min(self.poll_interval, LEASE_CHECK_SECONDS))
