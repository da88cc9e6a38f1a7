"""/healthz and /readyz: the process answers; ready means a reachable database at this
code's migration, a daemon ticking, and the platforms answering at the last attempt."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text, update
from starlette.testclient import TestClient

from bot.delivery.daemon import Daemon
from bot.monitoring.health import Readiness
from bot.platforms.base import OutcomeUnknown, PermanentError, TransientError
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.migrate import head_revisions
from bot.storage.models import DaemonHeartbeat
from bot.storage.vault import generate_key
from bot.web.health import create_health_app
from tests.support.waiting import wait_for

SECRETS = {
    "WEB_SECRET_KEY": "web-secret-key-never-shown-0123456789",
    "TOKEN_ENCRYPTION_KEYS": generate_key(),
    "X_CONSUMER_SECRET": "x-consumer-secret-never-shown",
}


NO_DATABASE = "postgresql+psycopg://clarion:hunter2-db-password@127.0.0.1:1/clarion"


class MovableClock:
    """The real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def runtime_on(database_url: str, **extra: str) -> Runtime:
    environ = {"DATABASE_URL": database_url, "SANDBOX": "on", **SECRETS, **extra}
    return Runtime(load_settings(None, environ=environ))


@pytest.fixture
def runtime(empty_database: str) -> Iterator[Runtime]:
    runtime = runtime_on(empty_database)
    runtime.migrate()
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(create_health_app(runtime))


@pytest.fixture
def daemon(runtime: Runtime) -> Iterator[Daemon]:
    """A real daemon on the runtime's database, polling every 0.1 s."""
    daemon = Daemon(runtime.deliverer(), runtime.ledger(), runtime.lock(), poll_interval=0.1)
    daemon.start()
    yield daemon
    if daemon.scheduler.running:
        daemon.stop()


def test_healthz_answers_ok_as_json_even_when_nothing_else_is_right() -> None:
    runtime = runtime_on(NO_DATABASE)  # nothing listens there
    answer = TestClient(create_health_app(runtime)).get("/healthz")
    runtime.close()
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"


def test_readyz_is_ready_with_a_daemon_ticking_on_a_migrated_database(
    client: TestClient, daemon: Daemon
) -> None:
    assert wait_for(lambda: client.get("/readyz").status_code == 200)
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and body["reasons"] == []
    checks = body["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["migrations"]["ok"] and checks["migrations"]["database"] == sorted(
        head_revisions()
    )
    assert checks["scheduler"]["ok"] and checks["scheduler"]["last_tick_age_seconds"] < 60
    # No post was attempted: nothing is known about the platforms, which is no failure.
    assert checks["platforms"] == {
        "ok": True,
        "bluesky": {"reachable": None, "last_attempt": None},
        "facebook": {"reachable": None, "last_attempt": None},
        "mastodon": {"reachable": None, "last_attempt": None},
        "x": {"reachable": None, "last_attempt": None},
    }


def test_readyz_turns_unready_naming_the_scheduler_when_the_daemon_stops_ticking(
    runtime: Runtime, client: TestClient, daemon: Daemon
) -> None:
    assert wait_for(lambda: client.get("/readyz").status_code == 200)
    daemon.stop()
    # As a daemon killed outright leaves it: its last beat, three minutes old, and no word
    # of a stop.
    with runtime.sessions() as session:
        session.execute(
            update(DaemonHeartbeat).values(
                beat_at=datetime.now(UTC) - timedelta(minutes=3), stopped_at=None
            )
        )
        session.commit()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unready"
    assert body["checks"]["scheduler"]["ok"] is False
    assert body["checks"]["scheduler"]["last_tick_age_seconds"] >= 180
    assert [r for r in body["reasons"] if r.startswith("scheduler:")] == body["reasons"]
    assert "no daemon is posting" in body["reasons"][0]


def test_a_daemon_that_goes_on_ticking_stays_ready_as_time_passes_and_not_once_stopped(
    runtime: Runtime,
) -> None:
    clock = MovableClock()
    daemon = Daemon(
        runtime.deliverer(), runtime.ledger(), runtime.lock(), poll_interval=0.1, clock=clock
    )
    readiness = Readiness(runtime.sessions, runtime.metrics, poll_interval=0.1, clock=clock)
    daemon.start()
    try:
        assert wait_for(lambda: readiness.check().ready)
        clock.advance(minutes=5)
        # Ticking, the daemon writes a beat at the new time on its next poll.
        assert wait_for(lambda: readiness.check().ready)
    finally:
        daemon.stop()
    # Stopped cleanly, it says so at once: no waiting for its beats to go stale.
    report = readiness.check()
    assert not report.ready
    assert report.checks["scheduler"]["ok"] is False
    assert report.reasons[0].startswith("scheduler: the daemon was stopped at ")
    assert "`python main.py run`" in report.reasons[0]


def test_a_standby_scheduler_keeps_readyz_ready_and_a_worker_beating_alone_does_not(
    runtime: Runtime, client: TestClient
) -> None:
    now = datetime.now(UTC)

    def row(holder: str, ago: float, stopped_ago: float | None = None) -> DaemonHeartbeat:
        at = now - timedelta(seconds=ago)
        stopped = None if stopped_ago is None else now - timedelta(seconds=stopped_ago)
        return DaemonHeartbeat(holder=holder, started_at=at, beat_at=at, stopped_at=stopped)

    with runtime.sessions() as session:
        session.add(row("worker host-c:3", 2))
        session.commit()
    answer = client.get("/readyz").json()
    assert answer["checks"]["scheduler"]["ok"] is False  # a worker plans nothing
    with runtime.sessions() as session:
        session.add_all([row("scheduler host-a:1", 10), row("scheduler host-b:2", 3, 1)])
        session.commit()
    answer = client.get("/readyz").json()
    assert answer["checks"]["scheduler"]["ok"] is True, answer["reasons"]
    assert 9 <= answer["checks"]["scheduler"]["last_tick_age_seconds"] <= 60


def test_readyz_is_unready_when_no_daemon_has_ever_ticked(client: TestClient) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["scheduler"] == {
        "ok": False,
        "last_tick": None,
        "stale_after_seconds": 120.0,
    }
    assert "python main.py run" in answer.json()["reasons"][0]


def test_readyz_is_unready_when_the_database_is_behind_this_codes_migrations(
    runtime: Runtime, client: TestClient, daemon: Daemon
) -> None:
    assert wait_for(lambda: client.get("/readyz").status_code == 200)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    # A new app: the database's revision is cached a minute per app.
    answer = TestClient(create_health_app(runtime)).get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    [head] = head_revisions()
    assert body["checks"]["migrations"] == {"ok": False, "database": ["0005"], "code": [head]}
    assert body["reasons"] == [
        f"migrations: the database is at 0005, this code's schema is {head}: restart Clarion "
        "to migrate it (every command migrates on start), or run the version that migrated it"
    ]


def test_the_databases_revision_is_read_again_only_after_a_minute(
    runtime: Runtime, daemon: Daemon
) -> None:
    seconds = [0.0]
    readiness = Readiness(runtime.sessions, runtime.metrics, monotonic=lambda: seconds[0])
    assert wait_for(lambda: readiness.check().ready)
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0005'"))
    seconds[0] = 59.0
    assert readiness.check().checks["migrations"]["ok"] is True
    seconds[0] = 60.0
    assert readiness.check().checks["migrations"]["ok"] is False


def test_a_database_that_does_not_answer_is_named_by_its_error_never_by_its_url() -> None:
    runtime = runtime_on(NO_DATABASE)
    try:
        answer = TestClient(create_health_app(runtime)).get("/readyz")
    finally:
        runtime.close()
    assert answer.status_code == 503
    body = answer.json()
    assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
    assert body["reasons"][0] == "database: did not answer (OperationalError)"
    assert body["checks"]["scheduler"]["ok"] is None
    for leaked in ("hunter2", "clarion:", "127.0.0.1:1", "postgresql"):
        assert leaked not in answer.text


def test_a_platform_that_did_not_answer_at_the_last_attempt_makes_readyz_unready(
    runtime: Runtime, client: TestClient, daemon: Daemon
) -> None:
    assert wait_for(lambda: client.get("/readyz").status_code == 200)
    metrics = runtime.metrics
    at = datetime.now(UTC)
    metrics.platform_error("x", TransientError("x answered 503", code=503), at)
    metrics.platform_error("facebook", PermanentError("the text is too long"), at)
    answer = client.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["reasons"] == ["platforms: x did not answer at the last attempt"]
    assert body["checks"]["platforms"]["x"]["error"] == "TransientError: x answered 503"
    # A refusal is an answer: Facebook was reachable.
    assert body["checks"]["platforms"]["facebook"]["reachable"] is True
    metrics.platform_error("x", OutcomeUnknown("no answer"), at)
    assert client.get("/readyz").status_code == 503
    # The next post acknowledged on X makes it reachable again.
    metrics.published("x", at, at + timedelta(seconds=1))
    assert client.get("/readyz").status_code == 200


def test_a_rate_limit_is_an_answer_so_the_platform_counts_as_reachable(
    runtime: Runtime,
) -> None:
    at = datetime.now(UTC)
    runtime.metrics.platform_error("x", TransientError("slow down", rate_limited=True), at)
    assert runtime.metrics.reach()["x"].reachable is True


def test_nothing_in_healthz_or_readyz_shows_a_secret(client: TestClient, daemon: Daemon) -> None:
    assert wait_for(lambda: client.get("/readyz").status_code == 200)
    shown = client.get("/healthz").text + client.get("/readyz").text
    for value in SECRETS.values():
        assert value not in shown
