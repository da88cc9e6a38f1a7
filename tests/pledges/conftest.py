"""Pledge campaigns in a few words, on the test database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import PledgeReceipt, add_pledge
from bot.storage.models import Campaign, GoalPolicy, PledgeCampaign
from bot.storage.vault import Vault
from tests.cli.conftest import cli  # noqa: F401 - the command-line fixture, for test_cli

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
RELEASE = NOW + timedelta(days=2)


def make_campaign(
    session: Session,
    slug: str = "fujitsu",
    *,
    goal: int = 3,
    policy: str = GoalPolicy.ALL_OR_NOTHING,
    window: int = 0,
    variants: list[str] | None = None,
    link: str | None = "https://union.org.uk/fujitsu",
    release_at: datetime = RELEASE,
    allow_edit: bool = True,
) -> PledgeCampaign:
    campaign = Campaign(slug=slug, title="Defend the union at Fujitsu", timezone="Europe/London")
    pc = PledgeCampaign(
        campaign=campaign,
        description="Stop the victimisation of reps",
        message={"x": "Stop the victimisation of reps at Fujitsu", "facebook": "Stop it now"},
        variants=variants or [],
        link=link,
        goal=goal,
        release_at=release_at,
        timezone="Europe/London",
        goal_policy=policy,
        window_minutes=window,
        allow_edit=allow_edit,
    )
    session.add(pc)
    session.commit()
    return pc


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
                AccountInfo(user, f"h{user}", f"Name {user}", followers),
                wording=wording,
                email=email,
                now=now,
            )

    return pledge
