"""Alerts under test: a local SMTP server (aiosmtpd) and a local webhook receiver, both on
127.0.0.1, and a watcher with a short policy and a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.vault import Vault, generate_key
from tests.support.alerting import (
    Mail,
    Receiver,
    running_receiver,
    running_smtp,
)
from tests.support.alerts_harness import (
    Alerting,
    AlertsCli,
    Clock,
)


@pytest.fixture
def smtp() -> Iterator[Mail]:
    with running_smtp() as mail:
        yield mail


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def alerting(
    sessions: sessionmaker[Session], vault: Vault, smtp: Mail, receiver: Receiver
) -> Alerting:
    return Alerting(sessions, vault, smtp, receiver, Clock())


@pytest.fixture
def alerts_cli(
    tmp_path: Path, empty_database: str, smtp: Mail, monkeypatch: pytest.MonkeyPatch
) -> AlertsCli:
    """`python main.py …` on a fresh database whose SMTP server is the local one."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.env"
    config.write_text(
        f"DATABASE_URL={empty_database}\nTOKEN_ENCRYPTION_KEYS={generate_key()}\n"
        f"SCHEDULES_DIR={tmp_path / 'schedules'}\nSMTP_HOST=127.0.0.1\n"
        f"SMTP_PORT={smtp.port}\nSMTP_STARTTLS=off\n"
    )
    return AlertsCli(config, CliRunner(env={k: None for k in ("DATABASE_URL", "TIMEZONE")}))
