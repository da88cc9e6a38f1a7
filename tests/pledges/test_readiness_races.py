"""Readiness keeps supporters' addresses out of the logs and never marks a pledge broken
because of a token the supporter has just replaced."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, AuthError, Credentials
from bot.pledges.mail import Mailer
from bot.pledges.readiness import check_readiness
from bot.settings import load_settings
from bot.storage.models import Pledge, PledgeState
from bot.storage.vault import Vault
from tests.support.pledges import CHECK_AT, Pledger, Tokens, make_campaign


class Refuser:
    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return f"550 5.1.1 <{address}>: Recipient address rejected"


def test_a_refused_reconnect_email_logs_the_smtp_code_but_not_the_address(
    sessions: sessionmaker[Session],
    vault: Vault,
    pledge_factory: Pledger,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Refuser(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with sessions() as s:
            make_campaign(s)
        pledge_factory("fujitsu", "2", email="secret.person@example.org")
        settings = load_settings(
            None,
            environ={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "off"},
        )
        with caplog.at_level(logging.INFO):
            report = check_readiness(
                sessions, vault, {"x": Tokens(revoked={"2"})}, now=CHECK_AT, hours=24,
                base_url="https://p.example", mailer=Mailer(settings),
            )  # fmt: skip
    finally:
        controller.stop()
    assert report.broken == 1 and report.emailed == 0
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("bot.")]
    assert not [m for m in ours if "secret.person" in m]  # (aiosmtpd's own log is the server's)
    assert "SMTPRecipientsRefused (SMTP 550)" in caplog.text


class SlowRevoked(Tokens):
    """verify() of the old token is in flight while the supporter re-pledges."""

    def __init__(self, repledge: Callable[[], None]) -> None:
        super().__init__(revoked={"2"})
        self.repledge = repledge

    def verify(self, creds: Credentials) -> AccountInfo:
        self.repledge()  # the supporter reconnects: new token, pledge active, verified now
        raise AuthError("Unauthorized", code=401)


def test_readiness_does_not_mark_a_just_reconnected_pledge_broken(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "2", token="old-token")
    x = SlowRevoked(lambda: pledge_factory("fujitsu", "2", token="new-token", now=CHECK_AT))
    report = check_readiness(
        sessions, vault, {"x": x}, now=CHECK_AT, hours=24, base_url="https://p"
    )
    assert report.broken == 0
    with sessions() as s:
        p = s.scalars(select(Pledge)).one()
        assert p.state == PledgeState.ACTIVE
        assert p.account is not None and p.account.status == "active"
        assert vault.open(p.account.credentials).token == "new-token"
