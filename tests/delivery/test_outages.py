"""A platform that cannot be reached, or rate-limits, is waited out until the post's grace
runs out; a failure that may have reached it keeps the exactly-once budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.alerts.detection import DeliveryOutcomes
from bot.alerts.events import AlertKind
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.base import TransientError
from bot.storage.models import Delivery, DeliveryState
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform

GRACE = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def x():
    return FakePlatform("x")


@pytest.fixture
def deliverer(sessions, vault, x, clock):
    add_account(sessions, vault, "x", "union", user_id="42")
    return Deliverer(
        Ledger(sessions, "w1"),
        {"x": x},
        vault,
        RetryPolicy(max_attempts=5, base_seconds=2, max_seconds=300, late_after=GRACE),
        clock=clock,
        rng=random.Random(7),
    )


def refused() -> TransientError:
    return TransientError("X publish: could not connect (ConnectionError)", not_sent=True)


def queued_one(sessions, clock) -> int:
    queue(sessions, spec("Picket at the gates, 7am", at=clock.now), now=clock.now)
    with sessions() as s:
        return s.scalars(select(Delivery.id)).one()


def row(sessions, delivery_id) -> Delivery:
    with sessions() as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery is not None
        return delivery


def run_until_final(deliverer, sessions, clock, delivery_id, *, most: int = 500) -> list[str]:
    """Run the delivery at each of its next-attempt times until it is final; the outcomes
    and the waits between the tries."""
    outcomes = []
    for _ in range(most):
        outcome = deliverer.run(delivery_id)
        assert outcome is not None, "the delivery was not due when it said it would be"
        outcomes.append(outcome)
        saved = row(sessions, delivery_id)
        if saved.state in DeliveryState.FINAL:
            return outcomes
        assert saved.next_attempt_at >= clock.now
        clock.now = saved.next_attempt_at
    raise AssertionError(f"still {row(sessions, delivery_id).state} after {most} tries")


def test_a_refused_connection_is_retried_until_the_grace_runs_out_then_missed(
    sessions, deliverer, x, clock
):
    due = clock.now
    d = queued_one(sessions, clock)
    x.fail_next(*[refused()] * 500)
    waits: list[float] = []
    tries: list[datetime] = []
    outcomes = []
    while True:
        tries.append(clock.now)
        outcome = deliverer.run(d)
        outcomes.append(outcome)
        saved = row(sessions, d)
        if saved.state in DeliveryState.FINAL:
            break
        assert saved.attempts == 0  # nothing reached X: not a try at the post
        waits.append((saved.next_attempt_at - clock.now).total_seconds())
        clock.now = saved.next_attempt_at

    assert outcomes[-1] == "missed" and set(outcomes[:-1]) == {"retry"}
    assert len(x.posts) == 0 and len(outcomes) > 5  # far past MAX_ATTEMPTS
    assert max(waits) <= 30.0  # the backoff is capped while the platform is down
    # tried until the grace was all but gone, never after it
    assert due + GRACE - timedelta(seconds=31) <= tries[-1] <= due + GRACE
    saved = row(sessions, d)
    assert saved.state == DeliveryState.MISSED and saved.error_kind == "missed"
    assert "could not reach the platform until its 15-minute grace ran out" in saved.error
    assert saved.due_at == due  # the scheduled time is kept; retries moved only the next try
    # reported as every missed post is: an alert
    with sessions() as s:
        events = DeliveryOutcomes().scan(s, clock.now, due - timedelta(minutes=1))
    assert [(e.kind, e.subject_id) for e in events] == [(AlertKind.DELIVERY_MISSED, d)]


def test_a_post_goes_out_once_when_the_platform_comes_back_within_the_grace(
    sessions, deliverer, x, clock
):
    due = clock.now
    d = queued_one(sessions, clock)
    x.fail_next(*[refused()] * 12)  # about five minutes of refusals at the capped backoff
    outcomes = run_until_final(deliverer, sessions, clock, d)
    assert outcomes == ["retry"] * 12 + ["sent"]
    assert len(x.posts) == 1
    saved = row(sessions, d)
    assert saved.state == DeliveryState.SENT and saved.attempts == 1
    assert saved.due_at == due and saved.sent_at == clock.now > due


def test_a_rate_limit_is_waited_out_past_the_attempt_cap(sessions, deliverer, x, clock):
    d = queued_one(sessions, clock)
    # 429s that say nothing of when the limit resets (a storm): more than MAX_ATTEMPTS
    x.fail_next(*[TransientError("429 Too Many Requests", rate_limited=True)] * 8)
    outcomes = run_until_final(deliverer, sessions, clock, d)
    assert outcomes == ["deferred"] * 8 + ["sent"]
    assert len(x.posts) == 1 and row(sessions, d).attempts == 1


def test_a_rate_limit_that_resets_after_the_grace_misses_the_post_at_once(
    sessions, deliverer, x, clock
):
    d = queued_one(sessions, clock)
    x.fail_next(TransientError("429 Too Many Requests", retry_after=3600, rate_limited=True))
    assert deliverer.run(d) == "missed"
    saved = row(sessions, d)
    assert saved.state == DeliveryState.MISSED and "rate limited until" in saved.error


def test_a_failure_that_may_have_reached_the_platform_keeps_the_attempt_cap(
    sessions, deliverer, x, clock
):
    d = queued_one(sessions, clock)
    # a 5xx to a create says nothing about whether the post was made: look before each
    # resend, and stop after MAX_ATTEMPTS tries
    x.fail_next(*[TransientError("X server error", code=503, maybe_sent=True)] * 50)
    run_until_final(deliverer, sessions, clock, d)
    saved = row(sessions, d)
    assert saved.state == DeliveryState.FAILED and saved.error_kind == "unknown"
    assert "could not confirm whether it went out" in saved.error
    publishes = [c for c in x.calls if c.startswith("publish:")]
    assert len(publishes) <= 5 and x.posts == []
    # every resend was preceded by a look
    assert all(
        x.calls[i - 1].startswith("find:") for i, c in enumerate(x.calls) if i and c in publishes
    )


def test_a_look_that_cannot_reach_the_platform_waits_without_using_the_budget(
    sessions, deliverer, x, clock
):
    d = queued_one(sessions, clock)
    x.fail_next("accept_then_lose")  # it went out, but the answer was lost
    assert deliverer.run(d) == "unknown"
    x.fail_next_find(*[refused()] * 20)  # then the platform went down for a while
    clock.now = row(sessions, d).next_attempt_at
    outcomes = run_until_final(deliverer, sessions, clock, d)
    assert outcomes[:20] == ["unknown"] * 20 and outcomes[-1] == "sent"
    assert len(x.posts) == 1  # found, not sent again
    assert row(sessions, d).attempts == 2  # the send and the look that found it


def test_an_unreachable_platform_is_logged_once_a_minute_not_once_a_post(
    sessions, deliverer, x, clock, caplog
):
    queue(
        sessions, *[spec(f"Rally {i}", at=clock.now, key=f"r{i}") for i in range(20)], now=clock.now
    )
    with sessions() as s:
        ids = list(s.scalars(select(Delivery.id)))
    x.fail_next(*[refused()] * 40)
    with caplog.at_level("INFO", logger="bot.delivery.deliverer"):
        assert {deliverer.run(d) for d in ids} == {"retry"}
        clock.now += timedelta(seconds=61)
        assert {deliverer.run(d) for d in ids} == {"retry"}
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 2 and all(m.startswith("x cannot be reached") for m in said)
