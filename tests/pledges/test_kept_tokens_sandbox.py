"""On the sandbox: after a real release, the engagement poller reads the pledge posts with
the supporters' kept tokens (a Facebook Page's post at all, an X post's private metrics),
and the tokens are deleted once the last snapshot is in, never written out in plaintext."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.engagement.plan import on_clock
from bot.engagement.poll import Poller
from bot.pledges import kept_tokens
from bot.pledges.jobs import PledgeJobs
from bot.pledges.pledging import find_campaign
from bot.runtime.wiring import Runtime
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import Account, Delivery, EngagementSnapshot
from tests.support.pledge_release import pledged_campaign, run_daemon_until_final, sandbox_runtime


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # make run's sandbox: a week of engagement in 10 minutes
    with running_sandbox(SandboxOptions(time_acceleration=1000)) as handle:
        yield handle


def poller(runtime: Runtime, at: list[datetime]) -> Poller:
    """The daemon's poller (``engagement_job``): offsets on the sandbox's clock."""
    s = runtime.settings
    return Poller(
        runtime.sessions,
        runtime.platforms,
        runtime.vault,
        offsets=on_clock(s.engagement_offsets, s.clock_acceleration),
        clock=lambda: at[0],
    )


def readings(runtime: Runtime) -> dict[str, set[str]]:
    """platform -> the metrics stored with a value."""
    with runtime.sessions() as s:
        rows = s.execute(
            select(EngagementSnapshot.platform, EngagementSnapshot.metric).where(
                EngagementSnapshot.available.is_(True)
            )
        ).all()
    out: dict[str, set[str]] = {}
    for platform, metric in rows:
        out.setdefault(platform, set()).add(metric)
    return out


@pytest.mark.timeout(60)
def test_the_poller_reads_pledge_posts_with_kept_tokens_and_they_go_after_the_last_snapshot(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    runtime = sandbox_runtime(engine, database_url, sandbox.url, sandbox.admin)
    assert runtime.settings.clock_acceleration == 1000  # asked of the sandbox
    run = pledged_campaign(runtime, sandbox.admin, x=2, facebook=2, release_in=2)
    assert run_daemon_until_final(run, timeout=30).by_state == {"sent": 4}
    jobs = PledgeJobs(runtime)
    with runtime.sessions() as s:
        sent = max(d.sent_at for d in s.scalars(select(Delivery)) if d.sent_at)
    at = [sent + timedelta(minutes=1)]  # past the 1h snapshot (3.6 s at 1000x)
    jobs.clock = lambda: at[0]
    assert jobs.forget_spent_tokens() == 0  # engagement still to read: kept

    first = poller(runtime, at).run()
    assert (first.read, first.deferred, first.no_token, first.errors) == (4, 0, 0, [])
    got = readings(runtime)
    assert {"likes", "replies"} <= got["facebook"]  # only the Page's token can read these
    assert "link_clicks" in got["x"]  # non-public metrics: the author's token
    assert jobs.forget_spent_tokens() == 0

    at[0] = sent + timedelta(minutes=42)  # past 29d on the sandbox's clock (41.8 min)
    last = poller(runtime, at).run()
    assert last.read == 4 and last.errors == []
    assert jobs.forget_spent_tokens() == 4  # the last snapshot is in: no need to wait 43 min
    with runtime.sessions() as s:
        assert all(a.credentials == "" for a in s.scalars(select(Account)))

    # An on-demand refresh reads X's public metrics on the app's token and skips the
    # Pages, whose tokens are gone, instead of failing on them every round.
    again = poller(runtime, at).run(refresh=True)
    assert (again.read, again.no_token, again.errors) == (2, 2, [])

    if database_url.startswith("sqlite:///"):
        engine.dispose()
        raw = Path(database_url.removeprefix("sqlite:///")).read_bytes()
        wal = Path(database_url.removeprefix("sqlite:///") + "-wal")
        raw += wal.read_bytes() if wal.exists() else b""
        for sup in run.supporters:
            for value in (sup.token, sup.secret):
                assert not value or value.encode() not in raw


@pytest.mark.timeout(60)
def test_with_the_setting_off_the_pages_posts_are_not_read_and_say_why(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    runtime = sandbox_runtime(
        engine,
        database_url,
        sandbox.url,
        sandbox.admin,
        PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT="false",
    )
    run = pledged_campaign(runtime, sandbox.admin, x=1, facebook=1, release_in=2)
    assert run_daemon_until_final(run, timeout=30).by_state == {"sent": 2}
    with runtime.sessions() as s:
        assert all(a.credentials == "" for a in s.scalars(select(Account)))
    result = poller(runtime, [datetime.now(UTC) + timedelta(minutes=1)]).run()
    assert (result.read, result.no_token, result.errors) == (1, 1, [])
    assert set(readings(runtime)) == {"x"}
    assert "link_clicks" not in readings(runtime)["x"]  # needs the author's token
    with runtime.sessions() as s:
        pc = find_campaign(s, run.slug)
        assert pc is not None
        note = kept_tokens.no_figures_note(s, pc.campaign_id, runtime.settings)
    assert "only to that Page's token" in note
