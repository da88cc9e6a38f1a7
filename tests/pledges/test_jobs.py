"""The daemon's pledge job: releases what is due and logs the rules and costs first."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot.pledges.jobs import PledgeJobs, periodic
from bot.pledges.pledging import PledgeReceipt
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.models import PledgeCampaignState
from tests.support.pledges import RELEASE, make_campaign

Pledger = Callable[..., PledgeReceipt]


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


def test_the_daemon_gets_a_release_job_every_second_a_readiness_job_and_a_token_sweep(
    engine: Engine, database_url: str
) -> None:
    runtime = Runtime(load_settings(None, environ={"DATABASE_URL": database_url}), engine)
    assert [(name, every) for name, _, every in periodic(runtime)] == [
        ("pledge-releases", 1.0),
        ("pledge-readiness", 60.0),
        ("pledge-kept-tokens", 60.0),  # tokens whose posts' engagement has been read
    ]
