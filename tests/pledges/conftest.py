"""Pledge campaigns' fixtures: pledges made in one call, and a local SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import PledgeReceipt, add_pledge
from bot.storage.vault import Vault
from tests.support.pledges import NOW, Inbox


@pytest.fixture
def pledge_factory(sessions: sessionmaker[Session], vault: Vault) -> Callable[..., PledgeReceipt]:
    def pledge(
        slug: str,
        user: str,
        *,
        platform: str = "x",
        token: str | None = None,
        followers: int = 100,
        email: str | None = None,
        wording: str | None = None,
        now: datetime = NOW,
        handle: str | None = None,
    ) -> PledgeReceipt:
        from bot.pledges.pledging import find_campaign

        with sessions() as session:
            pc = find_campaign(session, slug)
            assert pc is not None
            return add_pledge(
                session,
                vault,
                pc,
                platform,
                Credentials(token or f"tok-{user}", f"sec-{user}", user),
                AccountInfo(user, handle or f"h{user}", f"Name {user}", followers),
                wording=wording,
                email=email,
                now=now,
            )

    return pledge


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
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
