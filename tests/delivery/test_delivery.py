"""The delivery ledger: exactly once, whatever the platform or the process does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.storage.models import Account, AccountStatus, Delivery, DeliveryState
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def x():
    return FakePlatform("x")


@pytest.fixture
def account(sessions, vault):
    return add_account(sessions, vault, "x", "union", user_id="42")


def make_deliverer(sessions, vault, x, clock, worker="w1", max_attempts=3):
    return Deliverer(
        Ledger(sessions, worker),
        {"x": x},
        vault,
        RetryPolicy(max_attempts=max_attempts, base_seconds=2, max_seconds=60),
        clock=clock,
        rng=random.Random(7),
    )


@pytest.fixture
def deliverer(sessions, vault, x, clock):
    return make_deliverer(sessions, vault, x, clock)


def queued(sessions, clock, *specs):
    queue(sessions, *specs, now=clock.now)
    with sessions() as s:
        return [d.id for d in s.scalars(select(Delivery).order_by(Delivery.id))]


def row(sessions, delivery_id):
    with sessions() as s:
        return s.get(Delivery, delivery_id)


def test_it_sends_a_due_post_and_records_its_id_and_url(sessions, deliverer, x, clock, account):
    [d] = queued(sessions, clock, spec("Strike vote result", at=clock.now + timedelta(seconds=5)))
    clock.advance(5)
    assert deliverer.run(d) == "sent"
    saved = row(sessions, d)
    assert saved.state == DeliveryState.SENT
    assert saved.platform_ids == [x.posts[0]["id"]]
    assert saved.url == f"https://example.test/{x.posts[0]['id']}"
    assert saved.sending_at == clock.now and saved.sent_at == clock.now


def test_it_does_not_send_a_post_before_its_time(sessions, deliverer, x, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now + timedelta(seconds=30)))
    assert deliverer.run(d) is None
    assert x.posts == [] and row(sessions, d).state == DeliveryState.PENDING


def test_two_workers_racing_for_one_delivery_post_it_once(sessions, vault, x, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now + timedelta(seconds=1)))
    clock.advance(1)
    first = make_deliverer(sessions, vault, x, clock, worker="a")
    second = make_deliverer(sessions, vault, x, clock, worker="b")
    assert [first.run(d), second.run(d)] == ["sent", None]
    assert len(x.posts) == 1


def test_a_thread_goes_out_as_replies_each_to_the_last(sessions, deliverer, x, clock, account):
    [d] = queued(
        sessions,
        clock,
        spec(
            thread=("1/ We won", "2/ 87% yes", "3/ Thank you"), at=clock.now + timedelta(seconds=1)
        ),
    )
    clock.advance(1)
    assert deliverer.run(d) == "sent"
    assert [p["text"] for p in x.posts] == ["1/ We won", "2/ 87% yes", "3/ Thank you"]
    assert [p["reply_to"] for p in x.posts] == [None, x.posts[0]["id"], x.posts[1]["id"]]
    assert row(sessions, d).platform_ids == [p["id"] for p in x.posts]


def test_a_transient_error_is_retried_after_backoff(sessions, deliverer, x, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now))
    x.fail_next(TransientError("503 Service Unavailable", code=503))
    assert deliverer.run(d) == "retry"
    saved = row(sessions, d)
    assert saved.state == DeliveryState.PENDING and saved.attempts == 1
    assert 1.0 <= (saved.next_attempt_at - clock.now).total_seconds() < 3.0  # 2 s ± 50 % jitter
    assert deliverer.run(d) is None  # not yet due
    clock.advance(3)
    assert deliverer.run(d) == "sent" and len(x.posts) == 1


def test_it_gives_up_after_the_attempt_cap(sessions, deliverer, x, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now))
    x.fail_next(*[TransientError("timeout before sending")] * 3)
    outcomes = []
    for _ in range(3):
        outcomes.append(deliverer.run(d))
        clock.advance(120)
    assert outcomes == ["retry", "retry", "failed"]
    saved = row(sessions, d)
    assert saved.state == DeliveryState.FAILED and "gave up after 3 attempts" in saved.error


def test_a_rate_limit_waits_for_the_reset_without_counting_an_attempt(
    sessions, deliverer, x, clock, account
):
    first, second = queued(sessions, clock, spec(at=clock.now), spec(at=clock.now))
    x.fail_next(TransientError("429 Too Many Requests", retry_after=90, rate_limited=True))
    assert deliverer.run(first) == "deferred"
    saved = row(sessions, first)
    assert saved.attempts == 0 and saved.next_attempt_at == clock.now + timedelta(seconds=90)
    # the same account's next post waits for the same reset, without calling X
    assert deliverer.run(second) == "deferred"
    assert x.calls == [f"publish:{spec().parts['x'][0]}"]
    clock.advance(90)
    assert deliverer.run(first) == "sent"


def test_a_rejected_token_fails_the_post_and_flags_the_account(
    sessions, deliverer, x, clock, account
):
    [d] = queued(sessions, clock, spec(at=clock.now))
    x.fail_next(AuthError("401 Unauthorized"))
    assert deliverer.run(d) == "failed"
    assert row(sessions, d).error_kind == "auth"
    with sessions() as s:
        assert s.get(Account, account).status == AccountStatus.NEEDS_RECONNECT


def test_a_permanent_error_fails_with_the_platforms_message(sessions, deliverer, x, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now))
    x.fail_next(PermanentError("You are not allowed to create a Tweet with duplicate content."))
    assert deliverer.run(d) == "failed"
    saved = row(sessions, d)
    assert saved.error_kind == "permanent" and "duplicate content" in saved.error


def test_a_lost_answer_is_found_on_the_platform_not_sent_twice(
    sessions, deliverer, x, clock, account
):
    [d] = queued(sessions, clock, spec("Picket line 6am", at=clock.now))
    x.fail_next("accept_then_lose")
    assert deliverer.run(d) == "unknown"
    assert row(sessions, d).state == DeliveryState.UNKNOWN
    clock.advance(5)
    assert deliverer.run(d) == "sent"
    assert len(x.posts) == 1
    assert row(sessions, d).platform_ids == [x.posts[0]["id"]]


def test_an_unknown_outcome_not_found_on_the_platform_is_sent_once_more(
    sessions, deliverer, x, clock, account
):
    [d] = queued(sessions, clock, spec(at=clock.now))
    with sessions() as s:  # as if a crash left it mid-send
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, claimed_by="dead"))
        s.commit()
    assert Sweeps(sessions, "new").recover_interrupted(clock.now) == 1
    assert deliverer.run(d) == "unknown"  # too soon to trust that it is absent
    clock.advance(11)
    assert deliverer.run(d) == "sent"
    assert len(x.posts) == 1 and x.calls[0].startswith("find:")


def test_a_thread_interrupted_midway_resumes_after_the_last_part_out(
    sessions, deliverer, x, clock, account
):
    [d] = queued(sessions, clock, spec(thread=("1/ a", "2/ b", "3/ c"), at=clock.now))
    x.fail_next(None, "accept_then_lose")  # type: ignore[arg-type]
    # part 1 goes, part 2 is created but its answer is lost
    assert deliverer.run(d) == "unknown"
    clock.advance(5)
    assert deliverer.run(d) == "sent"
    assert [p["text"] for p in x.posts] == ["1/ a", "2/ b", "3/ c"]
    assert x.posts[2]["reply_to"] == x.posts[1]["id"]


def test_an_unexpected_bug_never_leaves_a_delivery_sending(sessions, vault, clock, account):
    class Broken(FakePlatform):
        def publish(self, *args, **kwargs):
            raise ZeroDivisionError

    deliverer = make_deliverer(sessions, vault, Broken(), clock)
    [d] = queued(sessions, clock, spec(at=clock.now))
    # it may have struck after the post went out: look before any resend
    assert deliverer.run(d) == "unknown"
    assert row(sessions, d).state == DeliveryState.UNKNOWN


def test_missed_posts_are_marked_and_returned_not_sent_late(sessions, clock, account):
    [late, very_late] = queued(
        sessions,
        clock,
        spec(key="reminder-2h", at=clock.now + timedelta(minutes=10)),
        spec(key="reminder-1d", at=clock.now + timedelta(seconds=1)),
    )
    clock.advance(20 * 60)  # the daemon was down for 20 minutes
    missed = Sweeps(sessions, "w").mark_missed(clock.now, timedelta(minutes=15))
    assert [(m.label, m.account) for m in missed] == [("demo/reminder-1d", "union")]
    assert row(sessions, very_late).state == DeliveryState.MISSED
    assert "daemon was not running" in row(sessions, very_late).error
    assert row(sessions, late).state == DeliveryState.PENDING  # 10 min late: still goes


def test_an_attempt_cut_short_by_our_own_crash_does_not_use_up_the_budget(sessions, clock, account):
    [d] = queued(sessions, clock, spec(at=clock.now))
    assert Ledger(sessions, "doomed").claim(d, clock.now) is not None  # then SIGKILL
    assert row(sessions, d).attempts == 1
    assert Sweeps(sessions, "next").recover_interrupted(clock.now) == 1
    assert (row(sessions, d).state, row(sessions, d).attempts) == (DeliveryState.UNKNOWN, 0)
