"""The scaled-out roles' locks on PostgreSQL: one active scheduler, and workers' leases
that tell the scheduler whose claims no longer have a send in flight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.leases import DeadClaims, live_workers, scheduler_lock, worker_lease
from bot.storage.engine import make_engine, make_session_factory
from bot.storage.lock import AlreadyRunning, DaemonLock
from bot.storage.models import Base, Delivery, DeliveryState
from tests.support.factories import add_account, delivery_rows, queue, spec


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    engine = make_engine(postgres_url)
    Base.metadata.create_all(engine)
    try:
        yield engine, make_session_factory(engine)
    finally:
        engine.dispose()


def claimed(sessions: sessionmaker[Session], delivery_id: int, worker: str, at: datetime) -> None:
    with sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(state=DeliveryState.SENDING, claimed_by=worker, sending_at=at, attempts=1)
        )
        session.commit()


def test_a_dead_workers_claims_are_settled_only_once_its_lease_has_been_seen_gone_long_enough(
    pg, vault
):
    # Counted from when the scheduler first saw the lease gone, not from the claim's time:
    # a worker cut off from the database may still be sending a claim made long ago.
    engine, sessions = pg
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, *[spec(f"post {i}", key=f"p{i}") for i in range(3)])
    live_id, old_id, recent_id = (d.id for d in delivery_rows(sessions))
    now = datetime.now(UTC)
    live = worker_lease(engine, "host:1")
    assert live.try_acquire()
    dead = worker_lease(engine, "host:2")
    assert dead.try_acquire()
    seconds = [1000.0]
    sweeps = DeadClaims(engine, wait=40, monotonic=lambda: seconds[0])
    try:
        claimed(sessions, live_id, "host:1", now - timedelta(minutes=5))
        claimed(sessions, old_id, "host:2", now - timedelta(minutes=5))
        claimed(sessions, recent_id, "host:2", now)
        assert sweeps.sweep(now) == 0  # both leases held: nothing to settle
        dead.release()  # as its connection closing does when the process is killed
        assert live_workers(engine) == 1

        assert sweeps.sweep(now) == 0  # seen gone just now, however old the claim
        seconds[0] += 39
        assert sweeps.sweep(now) == 0
        seconds[0] += 1
        assert sweeps.sweep(now) == 2
    finally:
        live.release()
    rows = {d.id: d for d in delivery_rows(sessions)}
    assert rows[live_id].state == DeliveryState.SENDING
    assert rows[old_id].state == DeliveryState.UNKNOWN
    assert rows[recent_id].state == DeliveryState.UNKNOWN
    assert rows[old_id].attempts == 0  # our failure, not the platform's
    assert rows[old_id].next_attempt_at == now
    assert live_workers(engine) == 0


def test_a_scheduler_that_takes_over_counts_a_gone_lease_afresh(pg, vault):
    engine, sessions = pg
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, spec("post", key="p"))
    [delivery_id] = (d.id for d in delivery_rows(sessions))
    seconds = [0.0]
    sweeps = DeadClaims(engine, wait=40, monotonic=lambda: seconds[0])
    claimed(sessions, delivery_id, "host:3", datetime.now(UTC))
    assert sweeps.sweep(datetime.now(UTC)) == 0
    seconds[0] += 100
    sweeps.forget()  # stood by and took over again: what it saw may be out of date
    assert sweeps.sweep(datetime.now(UTC)) == 0
    seconds[0] += 40
    assert sweeps.sweep(datetime.now(UTC)) == 1


def test_one_scheduler_holds_the_lock_and_the_next_takes_it_when_it_lets_go(pg):
    engine, _ = pg
    first, second = scheduler_lock(engine), scheduler_lock(engine)
    assert first.try_acquire()
    try:
        assert first.still_held()
        assert not second.try_acquire()
    finally:
        first.release()
    assert second.try_acquire()
    second.release()


def test_roles_refuse_a_database_a_single_machine_daemon_holds(pg, postgres_url):
    engine, _ = pg
    with DaemonLock(engine, postgres_url):
        with pytest.raises(AlreadyRunning, match="single-machine Clarion daemon"):
            scheduler_lock(engine).try_acquire()
        with pytest.raises(AlreadyRunning, match="single-machine Clarion daemon"):
            worker_lease(engine, "host:1").try_acquire()
    lease = worker_lease(engine, "host:1")
    assert lease.try_acquire()
    try:
        with pytest.raises(AlreadyRunning):
            DaemonLock(engine, postgres_url).acquire()
    finally:
        lease.release()
