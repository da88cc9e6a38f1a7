"""The engagement tests' world (tests/support/engagement.py), one per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.sandbox.testing import running_sandbox
from bot.storage.models import Campaign
from bot.storage.vault import Vault
from tests.support.engagement import Clock, World, make_platforms


@pytest.fixture
def world(sessions: sessionmaker[Session], vault: Vault) -> Iterator[World]:
    with running_sandbox() as sandbox:
        app = sandbox.admin.app()
        w = World(sandbox, sessions, vault, make_platforms(sandbox.url, app), Clock())
        with sessions() as session:
            campaign = Campaign(slug=w.slug, title="Demo", timezone="UTC")
            session.add(campaign)
            session.commit()
            w.campaign_id = campaign.id
        yield w
