"""Fixtures for the sandbox's own tests: a fresh sandbox per test, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import tweepy

from bot.sandbox.testing import SandboxHandle, running_sandbox
from tests.support.routing import x_client


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def alice(sandbox: SandboxHandle) -> dict[str, Any]:
    return sandbox.admin.create_x_user("alice", followers=1000, name="Alice A.")


@pytest.fixture
def bob(sandbox: SandboxHandle) -> dict[str, Any]:
    return sandbox.admin.create_x_user("bob", followers=10)


@pytest.fixture
def client(sandbox: SandboxHandle, alice: dict[str, Any]) -> tweepy.Client:
    return x_client(sandbox.url, alice)
