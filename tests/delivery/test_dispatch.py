"""The dispatcher: bursts go out once each, claimed before sending, within the in-flight bound;
what needs a thread gets one; a stop gives back what had not started."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from bot.campaigns.enqueue import cancel_post, find_post
from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.platforms.base import Credentials, OutcomeUnknown, Published, TransientError
from bot.storage.lock import DaemonLock
from bot.storage.models import Delivery, DeliveryState
from tests.support.factories import add_account, delivery_rows, due_now, queue, spec
from tests.support.fakes import FakeAsyncPlatform, FakePlatform
from tests.support.waiting import wait_for


class AsyncFake(FakePlatform):
    """FakePlatform with the burst path: records which path each post took, can hold
    answers back, and checks the ledger said "sending" before each request."""

    def __init__(self, sessions, *, hold: float = 0.0) -> None:
        super().__init__("x")
        self.sessions = sessions
        self.hold = hold
        self.paths: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self.unclaimed_at_send: list[str] = []

    def async_publisher(self, session):
        fake = self

        class Publisher:
            async def publish(
                self, creds: Credentials, text: str, *, link: str | None, idempotency_key=None
            ):
                fake.paths.append("async")
                fake.check_claimed(text)
                fake.in_flight += 1
                fake.peak = max(fake.peak, fake.in_flight)
                try:
                    await asyncio.sleep(fake.hold)
                    return FakePlatform.publish(fake, creds, text, link=link)
                finally:
                    fake.in_flight -= 1

        return Publisher()

    def publish(self, creds, text, **kwargs) -> Published:
        self.paths.append("thread")
        self.check_claimed(text)
        return super().publish(creds, text, **kwargs)

    def check_claimed(self, text: str) -> None:
        with self.sessions() as s:
            sending = s.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENDING))
        if not sending:
            self.unclaimed_at_send.append(text)


@pytest.fixture
def run_daemon(daemons):
    """The shared ``daemons`` fixture, with short reconcile and settle times unless told
    otherwise: an unknown outcome is looked for after 0.2 s, not the 5 s of production, and
    its absence is trusted by then (settle no longer than reconcile: one look)."""

    def start(platform, policy=None, **kwargs):
        short = RetryPolicy(reconcile_seconds=0.2, settle_seconds=0.2)
        return daemons(platform, policy or short, **kwargs)

    return start


def states(sessions):
    with sessions() as s:
        return sorted(s.scalars(select(Delivery.state)))


def test_a_burst_at_one_instant_goes_out_once_each_on_the_async_path(sessions, vault, run_daemon):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions, hold=0.05)
    at = datetime.now(UTC) + timedelta(seconds=1)
    queue(sessions, *[spec(f"Pledge {n}", at=at) for n in range(200)])
    daemon = run_daemon(x)
    assert wait_for(lambda: states(sessions) == ["sent"] * 200)
    assert sorted(p["text"] for p in x.posts) == sorted(f"Pledge {n}" for n in range(200))
    assert set(x.paths) == {"async"}
    assert x.unclaimed_at_send == []
    assert daemon.dispatcher.outcomes == {"sent": 200}


def test_no_more_than_the_in_flight_bound_is_claimed_or_sent_at_once(sessions, vault, run_daemon):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions, hold=0.3)
    queue(sessions, *[spec(f"Post {n}", at=datetime.now(UTC)) for n in range(60)], allow_past=True)
    peak_sending = 0

    def sending():
        nonlocal peak_sending
        with sessions() as s:
            now = s.scalar(select(func.count()).where(Delivery.state == DeliveryState.SENDING))
        peak_sending = max(peak_sending, now or 0)
        return now

    run_daemon(x, max_in_flight=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and states(sessions) != ["sent"] * 60:
        sending()
        time.sleep(0.01)
    assert states(sessions) == ["sent"] * 60
    assert x.peak <= 10
    assert 0 < peak_sending <= 10


def test_threads_unknown_outcomes_and_rate_gates_take_the_threaded_path(
    sessions, vault, run_daemon
):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions)
    at = datetime.now(UTC) + timedelta(seconds=1)
    queue(sessions, spec(thread=("1/ Strike vote", "2/ 87% yes"), at=at, key="thread"))
    run_daemon(x)
    assert wait_for(lambda: states(sessions) == ["sent"])
    assert x.paths == ["thread", "thread"]
    assert [p["reply_to"] for p in x.posts] == [None, x.posts[0]["id"]]


def test_a_lost_answer_on_the_async_path_is_looked_for_not_resent(sessions, vault, run_daemon):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions)
    x.fail_next("accept_then_lose")
    queue(sessions, spec("Once only", at=datetime.now(UTC) + timedelta(seconds=1)))
    run_daemon(x)
    assert wait_for(lambda: states(sessions) == ["sent"])
    assert [p["text"] for p in x.posts] == ["Once only"]
    assert x.calls[-1] == "find:Once only"  # the check found it: no second publish


def test_a_transient_failure_on_the_async_path_is_retried_through_the_ledger(
    sessions, vault, run_daemon
):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions)
    x.fail_next(TransientError("connect refused"))
    queue(sessions, spec("Try again", at=datetime.now(UTC) + timedelta(seconds=1)))
    run_daemon(x, policy=RetryPolicy(base_seconds=0.1, max_seconds=0.2))
    assert wait_for(lambda: states(sessions) == ["sent"])
    assert [p["text"] for p in x.posts] == ["Try again"]
    with sessions() as s:
        assert s.scalar(select(Delivery.attempts)) == 2


def test_an_unknown_outcome_with_no_answer_is_marked_unknown_first(sessions, vault, run_daemon):
    add_account(sessions, vault, user_id="42")
    x = AsyncFake(sessions)
    x.fail_next(OutcomeUnknown("reset after sending"))  # nothing was created
    queue(sessions, spec("Maybe out", at=datetime.now(UTC) + timedelta(seconds=1)))
    run_daemon(x)
    assert wait_for(lambda: states(sessions) == ["sent"])
    # looked first (not found, after settling), then sent once
    assert [c.split(":")[0] for c in x.calls] == ["publish", "find", "publish"]
    assert [p["text"] for p in x.posts] == ["Maybe out"]


def test_a_daemon_whose_dispatcher_cannot_start_refuses_to_start_and_frees_the_lock(
    sessions, vault, engine, database_url
):
    class Broken(FakePlatform):
        def async_publisher(self, session):
            raise RuntimeError("no event loop for you")

    ledger = Ledger(sessions, "d")
    lock = DaemonLock(engine, database_url)
    daemon = Daemon(Deliverer(ledger, {"x": Broken("x")}, vault, RetryPolicy()), ledger, lock)
    with pytest.raises(RuntimeError, match="dispatcher stopped: RuntimeError: no event loop"):
        daemon.start()
    again = DaemonLock(engine, database_url)
    again.acquire()  # the lock was let go
    again.release()


def test_a_dead_dispatcher_stops_the_daemon_instead_of_running_on_without_sending(
    sessions, vault, run_daemon
):
    daemon = run_daemon(AsyncFake(sessions))
    daemon.dispatcher.failure = "the delivery dispatcher stopped: boom"
    assert wait_for(lambda: daemon.stopping.is_set(), timeout=3)
    assert daemon.failure == "the delivery dispatcher stopped: boom"


class HeldFirst(FakePlatform):
    """The first publish waits until the test lets it go: the send pool stays busy."""

    def __init__(self) -> None:
        super().__init__("x")
        self.entered = threading.Event()
        self.go = threading.Event()

    def publish(self, *args, **kwargs):
        if not self.entered.is_set():
            self.entered.set()
            self.go.wait(5)
        return super().publish(*args, **kwargs)


@pytest.fixture
def dispatchers():
    made: list[Dispatcher] = []

    def make(sessions, vault, platforms, ledger=None, **kwargs):
        ledger = ledger or Ledger(sessions, "worker")
        deliverer = Deliverer(ledger, platforms, vault, RetryPolicy())
        dispatcher = Dispatcher(deliverer, ledger, platforms, **kwargs)
        dispatcher.start()
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.stop()


# A claim waits in the send pool before its send starts: a cancel in that wait still
# holds the post back, since nothing has been sent.
def test_a_post_cancelled_while_its_claim_waits_for_a_thread_is_not_sent(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, "first", "second")
    x = HeldFirst()
    dispatcher = dispatchers(sessions, vault, {"x": x}, threads=1)
    dispatcher.wake()
    assert x.entered.wait(5)
    assert wait_for(lambda: states(sessions) == ["sending", "sending"])  # both claimed
    with sessions() as s:
        post = find_post(s, "demo/second")
        assert post is not None
        cancel_post(s, post)
    x.go.set()
    assert wait_for(lambda: not dispatcher.in_flight())
    assert [p["text"] for p in x.posts] == ["first"], "a cancelled post went out"


# The stale-claim sweep must not touch a claim that waits in the send pool.
def test_the_stale_claim_sweep_leaves_claims_waiting_for_a_thread_alone(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, "first", "second")
    x = HeldFirst()
    ledger = Ledger(sessions, "worker")
    dispatcher = dispatchers(sessions, vault, {"x": x}, ledger=ledger, threads=1)
    dispatcher.wake()
    assert x.entered.wait(5)
    assert wait_for(lambda: len(dispatcher.in_flight()) == 2)
    # Even a sweep that thinks every claim is old spares what the dispatcher holds.
    assert (
        Sweeps(sessions, ledger.worker).release_stale(
            datetime.now(UTC) + timedelta(hours=1), dispatcher.in_flight()
        )
        == 0
    )
    x.go.set()
    assert wait_for(lambda: states(sessions) == ["sent", "sent"])
    assert len(x.posts) == 2


# stop() promises that claims which had not started are given back, on the asyncio path
# as on the thread path: a batch whose claim was committed when the stop came stays
# pending.
class PausingLedger(Ledger):
    """claim_due commits its claims, then waits for the test before returning them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.claimed = threading.Event()
        self.go = threading.Event()

    def claim_due(self, now, pending, unknown=0, **kwargs):
        jobs = super().claim_due(now, pending, unknown, **kwargs)
        if jobs:
            self.claimed.set()
            self.go.wait(5)
        return jobs


def test_stopping_gives_back_claims_not_started_on_the_asyncio_path_too(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    x = FakeAsyncPlatform("x")
    ledger = PausingLedger(sessions, "worker")
    dispatcher = dispatchers(sessions, vault, {"x": x}, ledger=ledger)
    dispatcher.wake()
    assert ledger.claimed.wait(5)  # claimed (committed) and not yet handed to a sender
    stopper = threading.Thread(target=dispatcher.stop)
    stopper.start()
    assert wait_for(lambda: dispatcher.stopping)
    ledger.go.set()
    stopper.join(5)
    assert x.posts == [], f"{len(x.posts)} posts started after stop()"
    assert [(d.state, d.attempts) for d in delivery_rows(sessions)] == [("pending", 0)] * 3


# claim_due commits the claims, then reads the jobs. If that read fails, the claims must
# not stay "sending" with nobody sending them until the stale sweep (HTTP timeout + 60 s)
# frees them as unknown, each then looked for on the platform before it is sent.
def test_a_failed_read_after_a_batch_claim_does_not_strand_the_batch(
    sessions, vault, engine, daemons
):
    add_account(sessions, vault, "x", "union", user_id="42")
    x = FakeAsyncPlatform("x")
    failed = threading.Event()

    def fail_the_first_job_read(conn, cursor, statement, parameters, context, executemany):
        if (
            not failed.is_set()
            and "accounts.credentials" in statement
            and "parts_done" in statement
        ):
            failed.set()
            raise OperationalError(statement, parameters, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", fail_the_first_job_read)
    daemon = daemons(x)
    try:
        queue(sessions, spec("Rally at noon", at=datetime.now(UTC)), allow_past=True)
        assert failed.wait(5)
        assert wait_for(lambda: states(sessions) == ["sent"], timeout=2), states(sessions)
        assert len(x.posts) == 1
    finally:
        daemon.stop()
        event.remove(engine, "before_cursor_execute", fail_the_first_job_read)


# max_in_flight bounds what is claimed and unfinished, unknown outcomes included: they
# are not taken on top of the pending rows that fill the room.
def test_claims_never_exceed_max_in_flight_when_unknown_outcomes_are_due(
    sessions, vault, dispatchers
):
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(4)])
    with sessions() as s:  # two earlier attempts whose answers were lost
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:2]))
            .values(state=DeliveryState.UNKNOWN, first_sending_at=now, attempts=1)
        )
        s.commit()
    ledger = PausingLedger(sessions, "worker")
    dispatcher = dispatchers(
        sessions, vault, {"x": FakeAsyncPlatform("x")}, ledger=ledger, max_in_flight=2
    )
    dispatcher.wake()
    assert ledger.claimed.wait(5)  # committed; nothing sent yet
    try:
        assert states(sessions).count(DeliveryState.SENDING) <= 2
    finally:
        ledger.go.set()


# The asyncio path's own window: a cancel committed between claim_due's claim and its
# read of the jobs. The job is read with ``cancelled`` true, and the asyncio path must
# honour it as the thread path does.
def test_a_post_cancelled_just_after_its_claim_is_not_sent_on_the_asyncio_path(
    sessions, vault, engine, dispatchers
):
    due_now(sessions, vault, "Rally at noon")
    cancelled = threading.Event()

    def cancel_before_the_job_read(conn, cursor, statement, parameters, context, executemany):
        if cancelled.is_set() or "accounts.credentials" not in statement:
            return
        if "parts_done" not in statement:
            return
        cancelled.set()
        with sessions() as s:  # another process (the web page, the CLI) cancels it now
            post = find_post(s, "demo/Rally-at-noon")
            assert post is not None
            cancel_post(s, post)

    event.listen(engine, "before_cursor_execute", cancel_before_the_job_read)
    try:
        x = FakeAsyncPlatform("x")
        dispatcher = dispatchers(sessions, vault, {"x": x})
        dispatcher.wake()
        assert cancelled.wait(5)
        assert wait_for(lambda: states(sessions) != ["sending"])
    finally:
        event.remove(engine, "before_cursor_execute", cancel_before_the_job_read)
    assert x.posts == [], "a post cancelled before its send went out"
    assert states(sessions) == ["cancelled"]
