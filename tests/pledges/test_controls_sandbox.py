"""Stopping a release while the real daemon is claiming and sending on the sandbox (with
latency, so posts are in flight when the stop comes): the ledger and the sandbox agree
exactly on what went out, and nothing is lost or doubled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from bot.pledges import controls
from bot.pledges.pledging import find_campaign
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import PledgeCampaignState, utcnow
from tests.support.pledge_release import (
    daemon_running,
    ledger_against_sandbox,
    release_in,
    sandbox_runtime,
    seeded_campaign,
    wait_for,
)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.mark.timeout(120)
def test_a_stop_while_the_dispatcher_claims_loses_and_doubles_nothing(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    admin = sandbox.admin
    runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
    admin.set_rate_limits(x_posts_per_app=100_000, reset_counters=True)
    run, old_posts = seeded_campaign(runtime, admin, x=300, facebook=100, window=1)
    admin.set_latency(800)  # several posts in flight at any moment
    with daemon_running(runtime):
        release_in(run, 11)
        wait_for(run, lambda st: st.sent >= 40, timeout=60)
        with runtime.sessions() as s:
            pc = find_campaign(s, run.slug)
            assert pc is not None
            stopped = controls.stop(s, pc, actor="cli:test", now=utcnow())
        final = wait_for(run, lambda st: st.state == PledgeCampaignState.STOPPED, timeout=60)
    admin.set_latency(0)
    assert stopped.stopped > 0, stopped
    sent = final.by_state.get("sent", 0)
    assert stopped.sent <= sent <= stopped.sent + stopped.in_flight, (stopped, final.by_state)
    assert sent + final.by_state.get("cancelled", 0) == 400, final.by_state
    assert ledger_against_sandbox(run, sandbox, old_posts) == []
