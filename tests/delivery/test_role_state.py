"""How a scheduler says it stands, for /readyz, without a running process: starting,
then active or standing by (both ready), and not ready once its loop is stuck, stopping
or failed. (Real processes: tests/delivery/test_role_health.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.ledger import Ledger
from bot.delivery.roles import Scheduler, State
from bot.monitoring.health import RoleReadiness
from bot.monitoring.metrics import Metrics
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.vault import generate_key

# Never connected to: the scheduler's job queue opens only when its loop starts.
QUEUE_URL = "postgresql+psycopg://clarion@127.0.0.1:1/clarion"


@pytest.fixture
def migrated(empty_database: str) -> Iterator[sessionmaker[Session]]:
    environ = {"DATABASE_URL": empty_database, "TOKEN_ENCRYPTION_KEYS": generate_key()}
    runtime = Runtime(load_settings(None, environ=environ))
    runtime.migrate()
    yield runtime.sessions
    runtime.close()


def scheduler_on(sessions: sessionmaker[Session]) -> Scheduler:
    return Scheduler(Ledger(sessions, "test:1"), QUEUE_URL, poll_interval=1.0)


def readiness(sessions: sessionmaker[Session], scheduler: Scheduler) -> dict:
    return RoleReadiness(sessions, Metrics(), scheduler).check().as_json()


def test_a_standby_scheduler_is_ready_and_says_standby_and_the_active_one_says_active(
    migrated: sessionmaker[Session],
) -> None:
    sessions = migrated
    scheduler = scheduler_on(sessions)
    assert scheduler.state is State.STARTING
    scheduler.went_round = time.monotonic()

    standby = readiness(sessions, scheduler)
    assert standby["status"] == "ready", standby
    assert (standby["role"], standby["state"]) == ("scheduler", "standby")
    assert list(standby)[:3] == ["status", "role", "state"]
    assert scheduler.figures()[0] == (
        "scheduler_active",
        "1 while this scheduler is the active one, 0 while it stands by",
        0.0,
        False,
    )

    scheduler.active.set()
    active = readiness(sessions, scheduler)
    assert active["status"] == "ready" and active["state"] == "active"
    assert scheduler.figures()[0].value == 1


def test_a_scheduler_whose_loop_is_stuck_stopping_or_failed_is_not_ready(
    migrated: sessionmaker[Session],
) -> None:
    sessions = migrated
    scheduler = scheduler_on(sessions)
    scheduler.went_round = time.monotonic() - scheduler.stuck_after - 5

    stuck = readiness(sessions, scheduler)
    assert stuck["status"] == "unready"
    assert stuck["reasons"][0].startswith("scheduler: its loop has not gone round for")

    scheduler.went_round = time.monotonic()
    scheduler.failure = "the scheduler stopped: RuntimeError: boom"
    failed = readiness(sessions, scheduler)
    assert failed["state"] == "failed"
    assert failed["reasons"] == ["scheduler: the scheduler stopped: RuntimeError: boom; restart it"]

    scheduler.failure = None
    scheduler.stopping.set()
    assert readiness(sessions, scheduler)["reasons"] == ["scheduler: stopping"]
