"""Running commands as a volunteer would, through click's test runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.runtime.wiring import Runtime
from bot.storage.vault import generate_key
from tests.factories import add_account
from tests.processes import runtime_for


@dataclass
class Cli:
    config: Path
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            main, ["--config", str(self.config), *args], input=input, catch_exceptions=False
        )

    def json(self, *args: str) -> object:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def runtime(self) -> Runtime:
        return runtime_for(self.config)


@pytest.fixture
def cli(tmp_path: Path, empty_database: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.env"
    config.write_text(
        f"DATABASE_URL={empty_database}\nTOKEN_ENCRYPTION_KEYS={generate_key()}\n"
        f"SCHEDULES_DIR={tmp_path / 'schedules'}\n"
    )
    return Cli(config, CliRunner(env={k: None for k in ("DATABASE_URL", "TIMEZONE")}))


@pytest.fixture
def with_accounts(cli: Cli) -> Cli:
    """The CLI with the campaign's X account @union and Facebook Page union-page."""
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union", token="x-secret-token-123")
    add_account(
        runtime.sessions, runtime.vault, "facebook", "union-page", token="fb-secret-token-456"
    )
    return cli
