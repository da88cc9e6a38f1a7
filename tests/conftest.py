"""Shared fixtures.

The suite runs on SQLite by default. With ``CLARION_TEST_DB=postgres`` (``make
test-postgres``) every test that touches the database runs against a throwaway
PostgreSQL started from the machine's binaries, and tests that do not touch it are
deselected (they already ran on the SQLite pass).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Secret
from bot.storage.engine import make_engine, make_session_factory
from bot.storage.models import Base
from bot.storage.vault import Vault, generate_key
from tests.support.cli import Cli

DB_FIXTURES = {"database_url", "empty_database", "engine", "sessions"}
TEST_DB = os.environ.get("CLARION_TEST_DB", "sqlite")

# Property-based tests (Hypothesis) run the same bounded set of examples on every run, so
# `make test` takes a known time and a failure repeats: derandomized, no example database.
# Each example is allowed 5 s: the machine may be busy, and a hang is what is looked for.
# `HYPOTHESIS_PROFILE=thorough` tries many more, at random, for a hunt by hand.
settings.register_profile(
    "clarion",
    max_examples=60,
    deadline=timedelta(seconds=5),
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("clarion"),
    max_examples=2000,
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "clarion"))


def pytest_report_header() -> str:
    return f"clarion: database under test = {TEST_DB}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if TEST_DB != "postgres":
        return
    keep, drop = [], []
    for item in items:
        uses_db = DB_FIXTURES & set(getattr(item, "fixturenames", ()))
        (keep if uses_db else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    if TEST_DB != "postgres":
        yield None
        return
    from tests.support.postgres import ThrowawayPostgres

    server = ThrowawayPostgres()
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def database_url(tmp_path: Path, postgres_server: str | None) -> str:
    if postgres_server:
        return postgres_server
    return f"sqlite:///{tmp_path / 'clarion.db'}"


def _drop_everything(engine: Engine) -> None:
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    from bot.storage.job_tables import drop_schema  # migration 0015's, on PostgreSQL

    with engine.begin() as conn:
        drop_schema(conn)


@pytest.fixture
def empty_database(database_url: str) -> str:
    """A database with no tables at all: for code that runs the migrations itself."""
    engine = make_engine(database_url)
    _drop_everything(engine)
    engine.dispose()
    return database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    _drop_everything(engine)
    Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def vault() -> Vault:
    return Vault(Secret(generate_key()))


@pytest.fixture
def daemons(
    sessions: sessionmaker[Session], vault: Vault, engine: Engine, database_url: str
) -> Iterator[Any]:
    """Start a daemon sending to ``x`` (polling every 0.2 s); stopped after the test."""
    from bot.delivery.daemon import Daemon
    from bot.delivery.deliverer import Deliverer, RetryPolicy
    from bot.delivery.ledger import Ledger
    from bot.storage.lock import DaemonLock

    made: list[Daemon] = []

    def start(x: Any, policy: RetryPolicy | None = None, **kwargs: Any) -> Daemon:
        ledger = Ledger(sessions, "test")
        deliverer = Deliverer(ledger, {"x": x}, vault, policy or RetryPolicy())
        lock = DaemonLock(engine, database_url)
        daemon = Daemon(deliverer, ledger, lock, poll_interval=0.2, **kwargs)
        daemon.start()
        made.append(daemon)
        return daemon

    yield start
    for daemon in made:
        if daemon.scheduler.running:
            daemon.stop()


@pytest.fixture
def cli(tmp_path: Path, empty_database: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Clarion's commands, run in tmp_path on a config naming an empty database."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.env"
    config.write_text(
        f"DATABASE_URL={empty_database}\nTOKEN_ENCRYPTION_KEYS={generate_key()}\n"
        f"SCHEDULES_DIR={tmp_path / 'schedules'}\n"
    )
    return Cli(config, CliRunner(env={k: None for k in ("DATABASE_URL", "TIMEZONE")}))
