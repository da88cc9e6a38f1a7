"""The daemon's pledge jobs: release what is due (rules and costs logged first, one failing
campaign holding up no other) and delete sign-ins left unfinished."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.pledges.jobs import PledgeJobs, periodic
from bot.pledges.pledging import find_campaign
from bot.pledges.release import run_due
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.models import PledgeCampaign, PledgeCampaignState
from bot.storage.vault import Vault
from tests.support.pledges import NOW, RELEASE, Pledger, make_campaign


def test_the_release_job_logs_rules_and_costs_then_releases_once(
    engine: Engine, database_url: str, pledge_factory: Pledger, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Runtime(load_settings(None, environ={"DATABASE_URL": database_url}), engine)
    with runtime.sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    caplog.set_level(logging.INFO, logger="bot.pledges")
    jobs = PledgeJobs(runtime, clock=lambda: RELEASE)
    [outcome] = jobs.releases()
    assert jobs.releases() == []  # already released: nothing to do
    assert outcome.state == PledgeCampaignState.RELEASING and outcome.posts == 1
    assert "estimated X cost: $0.20" in caplog.text
    assert "1 would go at the release" in caplog.text


def test_the_daemon_gets_a_release_job_every_second_readiness_and_token_sweeps(
    engine: Engine, database_url: str
) -> None:
    runtime = Runtime(load_settings(None, environ={"DATABASE_URL": database_url}), engine)
    assert [(name, every) for name, _, every in periodic(runtime)] == [
        ("pledge-releases", 1.0),
        ("pledge-readiness", 60.0),
        ("pledge-kept-tokens", 60.0),  # tokens whose posts' engagement has been read
        ("pledge-bluesky-sessions", 60.0),  # refreshed around their release
        ("pledge-token-revocations", 60.0),  # deleted tokens revoked at their networks
    ]


def test_sign_ins_left_unfinished_are_deleted_even_if_nobody_signs_in_again(
    engine: Engine, database_url: str, vault: Vault
) -> None:
    # A supporter who signs in with Facebook and leaves at the Page picker leaves their
    # Pages' tokens (sealed) in a sign-in row; they must not stay there for good.
    from bot.pledges import oauth_requests
    from bot.pledges.jobs import PledgeJobs
    from bot.runtime.wiring import Runtime
    from bot.storage.models import OAuthRequest
    from bot.storage.vault import generate_key

    key = generate_key()
    env = {"DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEYS": key}
    runtime = Runtime(load_settings(None, environ=env), engine)
    with runtime.sessions() as s:
        pc = make_campaign(s)
        oauth_requests.remember(
            s,
            runtime.vault,
            provider="facebook_pages",
            key="pick-1",
            secret='[{"token": "page-token"}]',
            pledge_campaign_id=pc.id,
            now=NOW,
        )
    PledgeJobs(runtime, clock=lambda: NOW + oauth_requests.MAX_AGE / 2).readiness()
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OAuthRequest)) == 1  # still live
    PledgeJobs(
        runtime, clock=lambda: NOW + oauth_requests.MAX_AGE + timedelta(minutes=1)
    ).readiness()
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OAuthRequest)) == 0


def test_one_campaigns_failing_release_does_not_hold_up_the_others(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, "a", goal=1, policy="release_anyway")
        make_campaign(s, "b", goal=1, policy="release_anyway")
    pledge_factory("a", "1", platform="facebook")
    pledge_factory("b", "2")
    with sessions() as s:  # bad data apply_campaigns refuses, written behind its back
        pc = find_campaign(s, "a")
        assert pc is not None
        pc.message = {"x": "only X"}
        s.commit()
    runtime = Runtime(load_settings(None, environ={"DATABASE_URL": database_url}), engine)
    outcomes = PledgeJobs(runtime, clock=lambda: RELEASE).releases()
    assert [o.slug for o in outcomes] == ["b"]
    assert [o.slug for o in run_due(sessions, RELEASE)] == []  # "a" fails again, logged
    with sessions() as s:
        states = {pc.campaign.slug: pc.state for pc in s.scalars(select(PledgeCampaign))}
    assert states == {"a": "open", "b": "releasing"}
