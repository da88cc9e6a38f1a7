"""Group commit: writes from many threads share transactions, each still gets its own count."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.delivery.group_commit import GroupCommit
from bot.delivery.ledger import Ledger
from bot.delivery.statements import SENT
from bot.platforms.base import Published
from bot.storage.models import Delivery, DeliveryState
from tests.factories import add_account, queue, spec


@pytest.fixture
def claimed(sessions, vault):
    """50 deliveries claimed by worker "me", as the dispatcher would have them."""
    add_account(sessions, vault)
    now = datetime.now(UTC)
    queue(sessions, *[spec(f"post {n}", at=now) for n in range(50)], allow_past=True)
    ledger = Ledger(sessions, "me")
    jobs = ledger.claim_due(now + timedelta(seconds=1), limit=100)
    assert len(jobs) == 50
    return ledger, jobs


def sent_params(job, worker="me"):
    return {
        "did": job.delivery_id,
        "me": worker,
        "parts": 1,
        "ids": [f"p{job.delivery_id}"],
        "url": None,
        "now": datetime.now(UTC),
    }


def states(sessions):
    with sessions() as s:
        return [r for r in s.scalars(select(Delivery.state).order_by(Delivery.id))]


def test_writes_from_many_threads_are_committed_in_fewer_transactions_than_writes(
    engine, sessions, claimed
):
    _, jobs = claimed
    group = GroupCommit(engine)
    start = threading.Barrier(len(jobs))

    def write(job):
        start.wait()
        return group.execute(SENT, sent_params(job))

    with ThreadPoolExecutor(len(jobs)) as pool:
        counts = list(pool.map(write, jobs))
    group.close()
    assert counts == [1] * len(jobs)
    assert states(sessions) == [DeliveryState.SENT] * len(jobs)
    assert group.rounds < len(jobs)


def test_a_write_whose_guard_fails_gets_zero_while_its_neighbours_get_one(
    engine, sessions, claimed
):
    _, jobs = claimed
    group = GroupCommit(engine)
    futures = [
        group.submit(SENT, sent_params(job, worker="someone-else" if i == 3 else "me"))
        for i, job in enumerate(jobs)
    ]
    counts = [f.result() for f in futures]
    group.close()
    assert counts == [0 if i == 3 else 1 for i in range(len(jobs))]
    assert states(sessions).count(DeliveryState.SENDING) == 1


def test_a_failing_write_does_not_take_the_others_in_its_round_down(engine, sessions, claimed):
    _, jobs = claimed
    group = GroupCommit(engine)
    bad = update(Delivery).where(Delivery.id == -1).values(no_such_column=1)  # type: ignore[call-arg]
    futures = [group.submit(SENT, sent_params(job)) for job in jobs[:10]]
    with pytest.raises(Exception):  # noqa: B017 - the database's own error type
        group.submit(bad, {}).result()
    assert [f.result() for f in futures] == [1] * 10
    group.close()


def test_closing_commits_what_was_queued(engine, sessions, claimed):
    _, jobs = claimed
    group = GroupCommit(engine)
    futures = [group.submit(SENT, sent_params(job)) for job in jobs]
    group.close()
    assert all(f.done() and f.result() == 1 for f in futures)
    with pytest.raises(RuntimeError, match="closed"):
        group.submit(SENT, sent_params(jobs[0]))


def test_the_ledger_writes_through_it_while_the_daemon_runs(sessions, claimed):
    ledger, jobs = claimed
    ledger.start_group_commit()
    try:
        later = ledger.sent_later(jobs[0], ["p1"], Published("p1", "u"), datetime.now(UTC))
        assert later is not None and later.result() is True
        assert ledger.sent(jobs[1], ["p2"], Published("p2", "u"), datetime.now(UTC)) is True
    finally:
        ledger.stop_group_commit()
    assert states(sessions)[:2] == [DeliveryState.SENT, DeliveryState.SENT]
    assert ledger.sent_later(jobs[2], ["p3"], Published("p3", "u"), datetime.now(UTC)) is None
