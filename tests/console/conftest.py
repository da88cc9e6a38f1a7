"""Fixtures for the console: a runtime on the test database, people of every role, and
test clients signed in through the real sign-in form.

    def test_an_editor_cannot_open_the_people_page(console):
        assert console.client(Role.EDITOR).get("/console/people").status_code == 403

``console.client(role)``: a TestClient with a person of that role signed in (None: signed
out); ``form_token(client, path)``: the CSRF token from the form on that page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.storage.vault import generate_key
from bot.web.app import create_web_app
from tests.support.console import (
    Clock,
    ConsoleHarness,
    UsersCli,
    console_runtime,
    form_token,
)


@pytest.fixture
def console_clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def make_console(console_clock: Clock) -> Callable[[Runtime], ConsoleHarness]:
    """A console on any runtime (e.g. one routed to the sandbox)."""

    def make(runtime: Runtime) -> ConsoleHarness:
        app = create_web_app(runtime, clock=console_clock)
        return ConsoleHarness(runtime, console_clock, app)

    return make


@pytest.fixture
def console(
    engine: Engine, make_console: Callable[[Runtime], ConsoleHarness]
) -> Iterator[ConsoleHarness]:
    yield make_console(console_runtime(engine))


@pytest.fixture(name="form_token")
def form_token_fixture() -> Callable[[TestClient, str], str]:
    return form_token


@pytest.fixture
def users_cli(tmp_path: Path, empty_database: str) -> UsersCli:
    config = tmp_path / "config.env"
    config.write_text(
        f"DATABASE_URL={empty_database}\nTOKEN_ENCRYPTION_KEYS={generate_key()}\n"
        "WEB_BASE_URL=https://clarion.example.org\n"
    )
    return UsersCli(config, CliRunner(env={"DATABASE_URL": None, "WEB_BASE_URL": None}))
