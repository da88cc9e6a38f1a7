"""Fixtures for the command-line tests (the `cli` fixture itself is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.support.cli import Cli
from tests.support.factories import add_account


@pytest.fixture
def with_accounts(cli: Cli) -> Cli:
    """The CLI with the campaign's X account @union and Facebook Page union-page."""
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union", token="x-secret-token-123")
    add_account(
        runtime.sessions, runtime.vault, "facebook", "union-page", token="fb-secret-token-456"
    )
    return cli
