"""Pledge campaigns in a few words, on the test database: a campaign, a clock, a fake
platform whose tokens can be revoked, an SMTP inbox, and the release-day report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, AuthError, Credentials, TransientError
from bot.pledges.pledging import PledgeReceipt, find_campaign
from bot.pledges.rules import check
from bot.settings import load_settings
from bot.storage.models import Campaign, GoalPolicy, PledgeCampaign
from bot.storage.vault import Vault
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform

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


CHECK_AT = RELEASE - timedelta(hours=23)  # inside the default 24 h window


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


class Tokens(FakePlatform):
    """Verify answers by user: revoked users get 401, flaky ones a 503."""

    def __init__(self, revoked: set[str], flaky: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        super().__init__("x")
        self.revoked, self.flaky = revoked, flaky
        self.verified: list[str] = []

    def verify(self, creds: Credentials) -> AccountInfo:
        self.verified.append(creds.platform_user_id)
        if creds.platform_user_id in self.revoked:
            raise AuthError("Unauthorized", code=401)
        if creds.platform_user_id in self.flaky:
            raise TransientError("Service Unavailable", code=503)
        return AccountInfo(creds.platform_user_id, "h", "n", 250)


def settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(None, environ=env)


def report(sessions: sessionmaker[Session], **env: str):  # type: ignore[no-untyped-def]
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        return check(s, pc, settings(**env))


def five_pledges_and_three_union_posts(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger, *hours_before: float
) -> None:
    """Five X pledges to "fujitsu" (no link), and the union's own account with three X
    posts queued ``hours_before`` the release."""
    with sessions() as s:
        make_campaign(s, link=None)
    for user in range(5):
        pledge_factory("fujitsu", str(user))
    add_account(sessions, vault, "x", "union")
    queue(
        sessions,
        *(spec(f"p{i}", at=RELEASE - timedelta(hours=h)) for i, h in enumerate(hours_before)),
        now=RELEASE - timedelta(hours=max(hours_before) + 1),
    )


Pledger = Callable[..., PledgeReceipt]
