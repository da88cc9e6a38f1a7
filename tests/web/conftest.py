"""Fixtures for the campaign pages: a database, the sandbox, a runtime routed to it, and
a pledge campaign; helpers that walk the sandbox's consent pages like a supporter."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.web.app import create_web_app
from tests.support.pledges import Inbox
from tests.support.web import TESTSERVER, Clock, add_campaign, make_runtime


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def runtime(engine: Engine, sandbox: SandboxHandle) -> Runtime:
    return make_runtime(engine, sandbox, TESTSERVER)


@pytest.fixture
def campaign(runtime: Runtime) -> str:
    add_campaign(runtime)
    return "fujitsu"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
def make_client(runtime: Runtime, clock: Clock) -> Callable[..., TestClient]:
    def make(**options: Any) -> TestClient:
        # Most tests change the database behind the page's back and look at once: no
        # page cache unless a test asks for one (tests/web/test_page_cache.py does).
        options.setdefault("page_cache_seconds", 0)
        app = create_web_app(runtime, clock=clock, **options)
        return TestClient(app, base_url=TESTSERVER, follow_redirects=False)

    return make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    """A local SMTP server (aiosmtpd) on loopback; its Inbox records what was sent."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()
