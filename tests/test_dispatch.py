"""The dispatcher: bursts go out once each, claimed before sending, within the in-flight bound;
what needs a thread gets one; a stop gives back what had not started."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.base import Credentials, OutcomeUnknown, Published, TransientError
from bot.storage.lock import DaemonLock
from bot.storage.models import Delivery, DeliveryState
from tests.factories import add_account, queue, spec
from tests.fakes import FakePlatform


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
            async def publish(self, creds: Credentials, text: str, *, link: str | None):
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
    """The shared ``daemons`` fixture, with a short settle time unless told otherwise."""

    def start(platform, policy=None, **kwargs):
        return daemons(platform, policy or RetryPolicy(settle_seconds=0.2), **kwargs)

    return start


def states(sessions):
    with sessions() as s:
        return sorted(s.scalars(select(Delivery.state)))


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


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
