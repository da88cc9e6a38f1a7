"""Group commit: writes from many threads share transactions, each still gets its own count."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from bot.delivery.deliverer import RetryPolicy
from bot.delivery.group_commit import GroupCommit, Write
from bot.delivery.ledger import Ledger
from bot.delivery.statements import SENT
from bot.platforms.base import Published
from bot.storage.models import Delivery, DeliveryState
from tests.support.factories import add_account, delivery_rows, due_now, queue, spec
from tests.support.fakes import FakeAsyncPlatform
from tests.support.waiting import wait_for


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


# One executemany per statement, yet each writer learns its own row count (on
# PostgreSQL with psycopg 3 as on SQLite), so a lost claim is never recorded "sent".
def test_a_grouped_round_gives_each_writer_its_own_row_count(sessions, vault, engine):
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, claimed_by="me"))
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(claimed_by="other"))
        s.commit()
    group = GroupCommit(engine)
    try:
        writes = [
            Write(
                SENT, {"did": i, "me": "me", "parts": 1, "ids": [f"p{i}"], "url": None, "now": now}
            )
            for i in ids
        ]
        group.commit_round(writes)  # one round, as the writer thread would run it
        assert [w.done.result(1) for w in writes] == [1, 0, 1]
    finally:
        group.close()
    assert states(sessions) == ["sent", "sending", "sent"]
    assert [d.platform_ids for d in delivery_rows(sessions)] == [[f"p{ids[0]}"], [], [f"p{ids[2]}"]]


def test_a_grouped_round_where_every_claim_is_held_needs_no_row_by_row_rerun(
    sessions, vault, engine
):
    # The driver's executemany row count is the sum over its rows (psycopg 3 as sqlite3),
    # so a clean round is not rolled back and rerun statement by statement.
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, claimed_by="me"))
        s.commit()
    group = GroupCommit(engine)
    try:
        params = {"me": "me", "parts": 1, "ids": ["p"], "url": None, "now": now}
        writes = [Write(SENT, {"did": i, **params}) for i in ids]
        assert group.run_round(writes, grouped=True) == [1, 1, 1]
    finally:
        group.close()
    assert states(sessions) == ["sent"] * 3


# The group writer fails to record a post that went out on the asyncio path: the
# delivery is looked for (and found) before anything is sent again.
def test_a_failed_group_write_after_an_async_send_is_reconciled_not_resent(
    sessions, vault, engine, daemons
):
    add_account(sessions, vault, "x", "union", user_id="42")
    x = FakeAsyncPlatform("x")
    failures = {"left": 2}  # the grouped round, then its rerun write by write

    def fail_recording_sent(conn, cursor, statement, parameters, context, executemany):
        if (
            failures["left"]
            and statement.startswith("UPDATE deliveries")
            and "sent_at" in statement
        ):
            failures["left"] -= 1
            raise OperationalError(statement, parameters, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail_recording_sent)
    daemon = daemons(x, RetryPolicy(reconcile_seconds=0.1))
    try:
        queue(sessions, spec("Rally at noon", at=datetime.now(UTC)), allow_past=True)
        assert wait_for(lambda: states(sessions) == ["sent"], timeout=5), states(sessions)
    finally:
        daemon.stop()
        event.remove(engine, "before_cursor_execute", fail_recording_sent)
    assert failures["left"] == 0
    assert [p["text"] for p in x.posts] == ["Rally at noon"]
    assert any(call.startswith(("find:", "find_many:")) for call in x.calls)  # looked for it
