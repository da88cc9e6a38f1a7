"""A sandbox-accelerated week: on a sandbox the snapshot plan follows the sandbox's clock;
on the real X and Facebook it never does, and posting times are never rescaled."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.engagement.plan import clock_note, on_clock
from bot.runtime.process import engagement_job
from bot.runtime.wiring import Runtime
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import running_sandbox
from bot.settings import load_settings
from bot.storage.models import Campaign, EngagementSnapshot
from bot.storage.vault import generate_key
from tests.support.engagement import OFFSETS, Clock, World, make_platforms

DAY = 86400


def runtime_with(engine: Engine, **environ: str) -> Runtime:
    settings = load_settings(
        None,
        environ={"DATABASE_URL": str(engine.url), "TOKEN_ENCRYPTION_KEYS": generate_key()}
        | environ,
    )
    return Runtime(settings, engine)


def plan_of(job: tuple[str, Any, float]) -> tuple[list[tuple[str, float]], float]:
    _, run, every = job
    return [(label, pytest.approx(s)) for label, s in run.__self__.offsets], every


def test_offsets_are_divided_by_the_acceleration_and_keep_their_labels():
    assert on_clock(OFFSETS, 1000) == (
        ("1h", 3.6),
        ("24h", 86.4),
        ("7d", 604.8),
        ("29d", 2505.6),
    )
    assert on_clock(OFFSETS, 1) == OFFSETS
    with pytest.raises(ValueError):
        on_clock(OFFSETS, 0)


def test_make_runs_defaults_run_a_week_of_snapshots_in_about_ten_minutes(engine: Engine):
    runtime = runtime_with(engine)  # no credentials: the built-in sandbox
    assert runtime.settings.uses_sandbox and runtime.settings.clock_acceleration == 1000
    offsets, every = plan_of(engagement_job(runtime))
    assert offsets == [("1h", 3.6), ("24h", 86.4), ("7d", 604.8), ("29d", 2505.6)]
    assert every == 1.0  # ENGAGEMENT_POLL_SECONDS 300 / 1000, at most once a second
    note = clock_note(runtime.settings.engagement_offsets, 1000)
    assert "runs 1000x faster than real time" in note and "10.1 min" in note


@pytest.mark.parametrize(
    "environ",
    [
        {"X_CONSUMER_KEY": "key", "X_CONSUMER_SECRET": "secret"},
        {"FACEBOOK_PAGE_ID": "1", "FACEBOOK_PAGE_TOKEN": "page-token"},
        {"SANDBOX": "off"},
    ],
)
def test_on_the_real_platforms_the_acceleration_is_ignored(engine: Engine, environ: dict[str, str]):
    runtime = runtime_with(engine, SANDBOX_TIME_ACCELERATION="5000", **environ)
    assert not runtime.settings.uses_sandbox
    assert runtime.settings.clock_acceleration == 1
    offsets, every = plan_of(engagement_job(runtime))
    assert offsets == [("1h", 3600), ("24h", DAY), ("7d", 7 * DAY), ("29d", 29 * DAY)]
    assert every == 300
    assert clock_note(runtime.settings.engagement_offsets, 1) == ""


def test_only_the_engagement_poller_is_rescaled_never_the_posting_settings(engine: Engine):
    runtime = runtime_with(engine)
    before = runtime.settings
    engagement_job(runtime)
    assert runtime.settings == before  # the daemon's deliverer and ledger use these
    policy = runtime.deliverer().policy
    assert policy.late_after.total_seconds() == 15 * 60 and policy.settle_seconds == 10


def test_a_sandbox_tells_its_own_rate_whatever_the_setting_says(engine: Engine):
    runtime = runtime_with(engine, SANDBOX_TIME_ACCELERATION="1000")
    with running_sandbox(SandboxOptions(time_acceleration=250)) as sandbox:
        sandboxed = runtime.with_sandbox(sandbox.url, sandbox.admin.app())
    assert sandboxed.settings.clock_acceleration == 250
    with running_sandbox() as sandbox:  # real time, as the test suites' sandboxes run
        sandboxed = runtime.with_sandbox(sandbox.url, sandbox.admin.app())
    assert sandboxed.settings.clock_acceleration == 1


def test_a_post_on_an_accelerated_sandbox_gets_growing_snapshots_within_seconds(engine: Engine):
    """The daemon's own engagement job on real time; the sandbox runs a day per second."""
    with running_sandbox(SandboxOptions(time_acceleration=DAY)) as sandbox:
        runtime = runtime_with(engine, ENGAGEMENT_OFFSETS="1h,6h,24h,2d").with_sandbox(
            sandbox.url, sandbox.admin.app()
        )
        world = World(
            sandbox,
            runtime.sessions,
            runtime.vault,
            make_platforms(sandbox.url, sandbox.admin.app()),
            Clock(),
        )
        with runtime.sessions() as session:
            campaign = Campaign(slug="demo", title="Demo", timezone="UTC")
            session.add(campaign)
            session.commit()
            world.campaign_id = campaign.id
        account = world.x_account(followers=20_000)
        world.clock.now = datetime.now(UTC)
        delivery = world.send(world.post(), account)
        _, run, every = engagement_job(runtime)
        assert every == 1.0
        started = time.monotonic()
        while time.monotonic() - started < 2.6:  # the "2d" snapshot is due after 2 s
            run()
            time.sleep(0.05)
    with runtime.sessions() as session:
        rows = session.execute(
            select(EngagementSnapshot.label, EngagementSnapshot.metric, EngagementSnapshot.value)
            .where(EngagementSnapshot.delivery_id == delivery)
            .order_by(EngagementSnapshot.id)
        ).all()
    labels = [label for label, metric, _ in rows if metric == "views"]
    views = [value for _, metric, value in rows if metric == "views"]
    likes = [value for _, metric, value in rows if metric == "likes"]
    # Each planned snapshot once, in order (a round slowed by a busy machine may pass
    # one by, as after downtime), the last one on time.
    assert len(labels) >= 3 and labels[-1] == "2d"
    assert labels == [label for label in ("1h", "6h", "24h", "2d") if label in labels]
    assert all(a < b for a, b in zip(views, views[1:], strict=False)), views
    assert likes == sorted(likes) and likes[-1] > likes[0]
