"""Alerts under test: a watcher with a short policy (``QUICK``) and a clock the test moves
(``Alerting``), and the alerts CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import channel_settings
from bot.alerts.events import AlertKind, WebhookFormat
from bot.alerts.grouping import GroupWindow
from bot.alerts.sending import SendPolicy
from bot.alerts.watcher import AlertPolicy, Watcher
from bot.cli import main
from bot.pledges.mail import Mailer
from bot.settings import load_settings
from bot.storage.models import Campaign, Delivery, DeliveryState
from bot.storage.vault import Vault
from tests.support.alerting import (
    SECRET,
    Mail,
    Receiver,
)
from tests.support.factories import add_account, queue, spec


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


QUICK = AlertPolicy(
    check_every=0.2,
    window=GroupWindow(quiet=timedelta(seconds=20), max_wait=timedelta(seconds=40)),
    daemon_stale=timedelta(minutes=2),
    approval_lead=timedelta(hours=1),
    send=SendPolicy(timeout=0.5, backoff=(1.0, 1.0), stale_after=60.0, workers=4),
)


@dataclass
class Alerting:
    sessions: sessionmaker[Session]
    vault: Vault
    smtp: Mail
    receiver: Receiver
    clock: Clock

    def watcher(self, policy: AlertPolicy = QUICK, *, clock: Any = None) -> Watcher:
        settings = load_settings(
            None,
            environ={
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(self.smtp.port),
                "SMTP_STARTTLS": "off",
            },
        )
        return Watcher(
            self.sessions,
            self.vault,
            Mailer(settings, timeout=policy.send.timeout),
            base_url="http://127.0.0.1:8080",
            policy=policy,
            clock=clock or self.clock,
        )

    def configure(
        self,
        campaign: str = "demo",
        *,
        fmt: WebhookFormat = WebhookFormat.CLARION,
        emails: tuple[str, ...] = ("organiser@example.org",),
        events: tuple[AlertKind, ...] = AlertKind.subscribable(),
    ) -> None:
        with self.sessions() as session:
            found = session.query(Campaign).filter_by(slug=campaign).one()
            channel_settings.update(
                session,
                self.vault,
                found,
                actor="test",
                events=events,
                emails=emails,
                webhook_url=self.receiver.url,
                webhook_format=fmt,
                webhook_secret=SECRET,
            )
            session.commit()

    def prepare(self, campaign: str = "demo", **channels: Any) -> None:
        """An account, and a campaign with its channels set."""
        add_account(self.sessions, self.vault, "x", "union")
        with self.sessions() as session:
            session.add(Campaign(slug=campaign, title="Fujitsu strike", timezone="Europe/London"))
            session.commit()
        self.configure(campaign, **channels)

    def start(self, campaign: str = "demo", **channels: Any) -> Watcher:
        """``prepare``, and a watcher that has looked once (alerts begin from there)."""
        self.prepare(campaign, **channels)
        watcher = self.watcher()
        watcher.check()
        self.clock.advance(1)
        return watcher

    def fail(self, count: int, *, kind: str = "auth", state: str = DeliveryState.FAILED) -> None:
        """``count`` posts on X, each failed (as the ledger writes it) now."""
        queue(self.sessions, *(spec(f"Strike vote {i}", to=("x",)) for i in range(count)))
        with self.sessions() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.state == DeliveryState.PENDING)
                .values(
                    state=state, error="401 Unauthorized", error_kind=kind, updated_at=self.clock()
                )
            )
            session.commit()


@dataclass
class AlertsCli:
    config: Path
    runner: CliRunner

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return self.runner.invoke(
            main, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )
