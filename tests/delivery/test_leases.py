"""The scaled-out roles' locks on PostgreSQL: one active scheduler, and workers' leases
that tell the scheduler whose claims no longer have a send in flight."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.leases import live_workers, release_dead_claims, scheduler_lock, worker_lease
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


def test_only_the_claims_of_workers_whose_lease_is_gone_and_that_are_old_enough_are_settled(
    pg, vault
):
    engine, sessions = pg
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, *[spec(f"post {i}", key=f"p{i}") for i in range(3)])
    live_id, dead_id, recent_id = (d.id for d in delivery_rows(sessions))
    now = datetime.now(UTC)
    live = worker_lease(engine, "host:1")
    assert live.try_acquire()
    dead = worker_lease(engine, "host:2")
    assert dead.try_acquire()
    dead.release()  # as its connection closing does when the process is killed
    try:
        claimed(sessions, live_id, "host:1", now - timedelta(minutes=5))
        claimed(sessions, dead_id, "host:2", now - timedelta(minutes=5))
        claimed(sessions, recent_id, "host:2", now)
        assert live_workers(engine) == 1

        assert release_dead_claims(engine, now - timedelta(seconds=40), now) == 1
    finally:
        live.release()
    rows = {d.id: d for d in delivery_rows(sessions)}
    assert rows[live_id].state == DeliveryState.SENDING
    assert rows[recent_id].state == DeliveryState.SENDING
    assert rows[dead_id].state == DeliveryState.UNKNOWN
    assert rows[dead_id].attempts == 0  # our failure, not the platform's
    assert rows[dead_id].next_attempt_at == now
    assert live_workers(engine) == 0


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
