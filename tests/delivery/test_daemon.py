"""The daemon: on time, one per database, honest after downtime, clean on stop."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.storage.lock import AlreadyRunning, DaemonLock
from bot.storage.models import Delivery, DeliveryState
from tests.support.factories import add_account, due_now, queue, spec
from tests.support.fakes import FakeAsyncPlatform, FakePlatform
from tests.support.waiting import wait_for


@pytest.fixture
def x():
    return FakePlatform("x")


@pytest.fixture
def make_daemon(sessions, vault, engine, database_url, x):
    started = []

    def make(**kwargs):
        ledger = Ledger(sessions, f"test-{len(started)}")
        deliverer = Deliverer(ledger, {"x": x}, vault, RetryPolicy())
        daemon = Daemon(
            deliverer, ledger, DaemonLock(engine, database_url), poll_interval=0.2, **kwargs
        )
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        if daemon.scheduler.running:
            daemon.stop()


def states(sessions):
    with sessions() as s:
        return [d.state for d in s.scalars(select(Delivery).order_by(Delivery.id))]


def test_posts_queued_while_it_runs_go_out_on_time(sessions, vault, make_daemon, x):
    add_account(sessions, vault)
    daemon = make_daemon()
    daemon.start()
    at = datetime.now(UTC) + timedelta(seconds=1.5)
    queue(sessions, spec("Rally at noon", at=at), spec("Bring banners", at=at))
    assert wait_for(lambda: states(sessions) == ["sent", "sent"])
    with sessions() as s:
        lateness = [(d.sending_at - at).total_seconds() for d in s.scalars(select(Delivery))]
    assert all(0 <= late < 0.5 for late in lateness), lateness
    assert sorted(p["text"] for p in x.posts) == ["Bring banners", "Rally at noon"]


def test_a_second_daemon_on_the_same_database_refuses_to_start(sessions, make_daemon):
    make_daemon().start()
    with pytest.raises(AlreadyRunning, match="already running"):
        make_daemon().start()


def test_a_post_moved_later_after_being_planned_waits_for_its_new_time(
    sessions, vault, make_daemon, x
):
    add_account(sessions, vault)
    daemon = make_daemon()
    daemon.start()
    now = datetime.now(UTC)
    queue(sessions, spec("moved", key="m", at=now + timedelta(seconds=1)))
    time.sleep(0.5)  # planned by now
    queue(sessions, spec("moved", key="m", at=now + timedelta(seconds=2.5)))
    time.sleep(1.0)
    assert x.posts == []
    assert wait_for(lambda: states(sessions) == ["sent"])


def test_it_reports_posts_missed_while_down_and_sends_those_within_grace(
    sessions, vault, make_daemon, x
):
    add_account(sessions, vault)
    now = datetime.now(UTC)
    queue(
        sessions,
        spec("due 20 min ago", key="old", at=now + timedelta(seconds=1)),
        spec("due 5 min ago", key="recent", at=now + timedelta(seconds=1)),
        now=now,
    )
    with sessions() as s:
        for key, minutes in (("old", 20), ("recent", 5)):
            s.execute(
                update(Delivery)
                .where(Delivery.post.has(key=key))
                .values(due_at=now - timedelta(minutes=minutes))
            )
        s.commit()
    reported = []
    make_daemon(grace=timedelta(minutes=15), on_missed=reported.extend).start()
    assert [m.label for m in reported] == ["demo/old"]
    assert wait_for(lambda: sorted(states(sessions)) == ["missed", "sent"])
    assert [p["text"] for p in x.posts] == ["due 5 min ago"]


def test_on_start_it_checks_interrupted_sends_before_resending(sessions, vault, make_daemon, x):
    add_account(sessions, vault, user_id="42")
    queue(sessions, spec("Already out", at=datetime.now(UTC) + timedelta(seconds=1)))
    # a previous daemon claimed it, posted it, and was killed before recording the result
    x.publish(vault.open(_creds(sessions)), "Already out")
    with sessions() as s:
        s.execute(
            update(Delivery).values(
                state=DeliveryState.SENDING,
                claimed_by="killed",
                first_sending_at=datetime.now(UTC),
                due_at=datetime.now(UTC),
            )
        )
        s.commit()
    daemon = make_daemon()
    daemon.start()
    assert daemon.recovered == 1
    assert wait_for(lambda: states(sessions) == ["sent"])
    assert len(x.posts) == 1


def test_stopping_lets_in_flight_sends_finish_and_record(sessions, vault, make_daemon):
    add_account(sessions, vault)
    entered = threading.Event()

    class Slow(FakePlatform):
        def publish(self, *args, **kwargs):
            entered.set()
            time.sleep(0.5)
            return super().publish(*args, **kwargs)

    daemon = make_daemon()
    daemon.deliverer.platforms = {"x": Slow()}
    daemon.start()
    queue(sessions, spec(at=datetime.now(UTC)), allow_past=True)
    assert entered.wait(5)
    daemon.stop()
    assert states(sessions) == ["sent"]


def test_stopping_while_the_queue_is_being_planned_does_not_hang(sessions, vault, make_daemon):
    # A stop that comes while a sync is reading the queue: the sync must not then plan a
    # job, for APScheduler's shutdown holds its job-store lock while it waits for that
    # very sync, and the daemon would never stop (seen as a SIGTERM that hung).
    add_account(sessions, vault)
    daemon = make_daemon()
    daemon.start()
    reading, release = threading.Event(), threading.Event()
    due_times = daemon.sweeps.due_times

    def slow_read(until):
        reading.set()
        release.wait(10)
        return due_times(until)

    daemon.sweeps.due_times = slow_read
    queue(sessions, spec("Picket at six", at=datetime.now(UTC) + timedelta(seconds=5)))
    assert reading.wait(5)
    stopper = threading.Thread(target=daemon.stop, daemon=True)
    stopper.start()
    time.sleep(0.5)  # stop() is now waiting for the sync job to finish
    release.set()
    stopper.join(10)
    assert not stopper.is_alive(), "the daemon hung on stop while a sync was planning"
    assert states(sessions) == ["pending"]


def _creds(sessions):
    from bot.storage.models import Account

    with sessions() as s:
        return s.scalars(select(Account)).one().credentials


def test_housekeeping_jobs_run_beside_posting_and_survive_their_own_errors(make_daemon):
    calls = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("first run fails")

    make_daemon(periodic=[("snapshots", flaky, 0.2)]).start()
    assert wait_for(lambda: len(calls) >= 3)


# Daemon.stop() sets ``stopping``, then waits for the scheduler's running jobs (an
# engagement round can take a while) before it stops the dispatcher; a burst larger than
# max_in_flight must not keep starting new sends all that time.
class SlowAsyncPlatform(FakeAsyncPlatform):
    """Each burst send takes ``hold`` seconds; records when each one started."""

    def __init__(self, hold: float) -> None:
        super().__init__("x")
        self.hold = hold
        self.started: list[datetime] = []

    def async_publisher(self, session):
        platform = self

        class Publisher:
            async def publish(self, creds, text, *, link, idempotency_key=None):
                platform.started.append(datetime.now(UTC))
                await asyncio.sleep(platform.hold)
                return platform.publish(creds, text, link=link)

        return Publisher()


def test_a_stopping_daemon_starts_no_new_sends_while_housekeeping_finishes(
    sessions, vault, daemons
):
    due_now(sessions, vault, *[f"post {n}" for n in range(100)])
    x = SlowAsyncPlatform(hold=0.05)
    slow, entered = threading.Event(), threading.Event()

    def housekeeping():  # e.g. an engagement round that is reading metrics
        if slow.is_set():
            entered.set()
            time.sleep(1.0)

    daemon = daemons(x, max_in_flight=4, periodic=[("housekeeping", housekeeping, 0.05)])
    assert wait_for(lambda: len(x.started) >= 8)
    slow.set()
    assert entered.wait(5)
    asked = datetime.now(UTC)
    daemon.stop()
    late = [t for t in x.started if t > asked + timedelta(seconds=0.05)]
    assert late == [], f"{len(late)} sends started after stop() was called"
