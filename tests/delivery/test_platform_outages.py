"""A platform that is down for a minute loses nothing: every post goes out once after it.

The sandbox takes one platform down at its door (bot/sandbox/doors.py): connections are
refused, and those open at that moment are cut. The real daemon, ledger and clients run
a pledge release (the asyncio burst path) and ordinary posts that go through the thread
pool (X threads, posts handed to Facebook to hold) while it happens.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from bot.alerts.detection import DeliveryOutcomes
from bot.alerts.events import AlertKind
from bot.campaigns.enqueue import apply_specs
from bot.delivery.deliverer import Deliverer
from bot.platforms.base import Credentials
from bot.runtime.wiring import Runtime
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxAdmin, SandboxHandle, running_sandbox
from bot.storage.models import Account, AccountStatus, Delivery, DeliveryState
from tests.support.factories import spec
from tests.support.pledge_release import daemon_running, pledged_campaign, sandbox_runtime

OUTAGE_SECONDS = 60
SUPPORTERS = 40  # per platform, released at one instant
ORDINARY = 8  # per platform, on the thread pool: X threads, posts held by Facebook


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    # A second a request keeps the burst going long enough for the outage to land in it,
    # with requests in flight when the connections are cut.
    with running_sandbox(SandboxOptions(latency_ms=1000)) as handle:
        yield handle


def through_doors(runtime: Runtime, admin: SandboxAdmin) -> Runtime:
    """The same runtime, reaching X and Graph through their doors, which an outage shuts."""
    x_door, graph_door = admin.door("x"), admin.door("facebook")
    return runtime.with_settings(
        sandbox_url="",
        x_api_base_url=x_door,
        facebook_graph_base_url=graph_door,
        facebook_www_base_url=graph_door,
    )


def campaign_accounts(runtime: Runtime, admin: SandboxAdmin) -> None:
    """The union's own X account and Facebook Page, for its ordinary posts."""
    user = admin.create_x_user("unionhq", followers=5000)
    page = admin.create_page("Union HQ", followers=5000)
    accounts = [
        (
            "x",
            user["id"],
            "unionhq",
            Credentials(user["access_token"], user["access_token_secret"], user["id"]),
        ),
        (
            "facebook",
            str(page["page_id"]),
            "Union HQ",
            Credentials(page["page_token"], "", str(page["page_id"])),
        ),
    ]
    with runtime.sessions() as s:
        for platform, user_id, handle, creds in accounts:
            s.add(
                Account(
                    platform=platform,
                    handle=handle,
                    name=handle,
                    owner_kind="campaign",
                    is_default=True,
                    platform_user_id=user_id,
                    credentials=runtime.vault.seal(creds),
                    status=AccountStatus.ACTIVE,
                )
            )
        s.commit()


def queue_ordinary_posts(runtime: Runtime) -> None:
    """Posts that go through the thread pool: X threads due now, and Facebook posts to be
        held by Facebook 12 minutes from now (handed over straight away; still 10 minutes ahead,
    as Facebook requires, after a minute's outage and the backoff after it)."""
    now = datetime.now(UTC)
    specs = []
    for i in range(ORDINARY):
        specs.append(
            spec(
                thread=(f"1/ Ballot {i} result", f"2/ {80 + i}% voted yes", f"3/ Thanks, {i}"),
                at=now + timedelta(seconds=1, milliseconds=250 * i),
                key=f"thread-{i}",
                to=("x",),
            )
        )
        specs.append(
            spec(
                f"Picket {i} at the depot gates",
                at=now + timedelta(minutes=12),
                key=f"held-{i}",
                to=("facebook",),
                hold_on_facebook=True,
            )
        )
    with runtime.sessions() as s:
        apply_specs(s, specs, now=now)


def states(runtime: Runtime, platform: str) -> Counter[str]:
    with runtime.sessions() as s:
        rows = s.execute(
            select(Delivery.state, func.count())
            .where(Delivery.platform == platform)
            .group_by(Delivery.state)
        ).all()
    return Counter({state: count for state, count in rows})


def waited_out_refusals(runtime: Runtime, platform: str) -> int:
    """Open deliveries last turned away because the platform could not be reached."""
    with runtime.sessions() as s:
        return (
            s.scalar(
                select(func.count()).where(
                    Delivery.platform == platform,
                    Delivery.state.in_(DeliveryState.OPEN),
                    Delivery.error.contains("could not connect"),
                )
            )
            or 0
        )


def ledger_against_sandbox(runtime: Runtime, sandbox: SandboxHandle) -> list[str]:
    """Where the ledger and the sandbox disagree (empty when every sent delivery's posts are
    on its own account once each, and nothing else was posted)."""
    posted = {
        str(account["id"]): [str(p["id"]) for p in account["posts"]]
        for account in sandbox.admin.timeline()
    }
    every_id = Counter(i for ids in posted.values() for i in ids)
    problems = [f"post {i} is on the sandbox {n} times" for i, n in every_id.items() if n > 1]
    with runtime.sessions() as s:
        rows = s.execute(
            select(
                Delivery.id, Delivery.state, Delivery.platform_ids, Account.platform_user_id
            ).join(Account, Account.id == Delivery.account_id)
        ).all()
    recorded = 0
    for delivery_id, state, platform_ids, user_id in rows:
        ids = [str(i) for i in platform_ids or []]
        recorded += len(ids)
        missing = [i for i in ids if i not in posted.get(str(user_id), [])]
        if state != DeliveryState.SENT or missing:
            problems.append(f"delivery {delivery_id} is {state}; not on its account: {missing}")
    if sum(every_id.values()) != recorded:
        problems.append(f"{sum(every_id.values())} posts on the sandbox, {recorded} in the ledger")
    return problems


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("down", ["x", "facebook"])
def test_a_minute_long_outage_during_a_release_loses_and_doubles_nothing(
    engine: Engine, database_url: str, sandbox: SandboxHandle, down: str
) -> None:
    admin = sandbox.admin
    admin.set_rate_limits(x_posts_per_app=100_000, reset_counters=True)
    runtime = sandbox_runtime(
        engine,
        database_url,
        sandbox.url,
        admin,
        # production's backoff (2 s doubling, 30 s cap while a platform is down) and grace
        RETRY_BASE_SECONDS="2",
        RETRY_MAX_SECONDS="300",
        MISSED_GRACE_MINUTES="15",
        # a few at a time, so the burst lasts several seconds
        DELIVERY_MAX_IN_FLIGHT="16",
    )
    runtime = through_doors(runtime, admin)
    campaign_accounts(runtime, admin)
    pledged_campaign(runtime, admin, x=SUPPORTERS, facebook=SUPPORTERS, release_in=4)
    total = 2 * SUPPORTERS + 2 * ORDINARY
    up = "facebook" if down == "x" else "x"

    with daemon_running(runtime):
        # the outage starts once the burst is under way on that platform
        deadline = time.monotonic() + 60
        while states(runtime, down)[DeliveryState.SENT] < 4:
            assert time.monotonic() < deadline, f"the burst did not start: {states(runtime, down)}"
            time.sleep(0.05)
        admin.outage(down, OUTAGE_SECONDS)
        outage_ends = time.monotonic() + OUTAGE_SECONDS
        sent_when_it_went_down = states(runtime, down)[DeliveryState.SENT]
        queue_ordinary_posts(runtime)

        time.sleep(OUTAGE_SECONDS / 2)
        during = states(runtime, down)
        assert sent_when_it_went_down < SUPPORTERS  # some of the release was left to send
        assert during[DeliveryState.FAILED] == during[DeliveryState.MISSED] == 0, during
        assert waited_out_refusals(runtime, down) > 0  # they met refused connections
        # the other platform is not held up by it
        assert states(runtime, up) == {DeliveryState.SENT: SUPPORTERS + ORDINARY}

        while states(runtime, down)[DeliveryState.SENT] < SUPPORTERS + ORDINARY:
            left = states(runtime, down)
            assert not left[DeliveryState.FAILED] and not left[DeliveryState.MISSED], left
            # once it is up, the capped backoff (30 s) and the checks bring everything out
            assert time.monotonic() < outage_ends + 90, f"still not out: {left}"
            time.sleep(0.5)
        assert time.monotonic() >= outage_ends - 1  # nothing went out while it was down
        print(f"{down}: all out {time.monotonic() - outage_ends:.1f} s after the outage ended")

    assert states(runtime, down) + states(runtime, up) == {DeliveryState.SENT: total}
    admin.advance_clock(13 * 60)  # the posts Facebook held are on their Page now
    assert ledger_against_sandbox(runtime, sandbox) == []


def test_a_facebook_429_storm_is_waited_out_and_the_post_goes_once_after_it(
    engine: Engine, database_url: str
) -> None:
    with running_sandbox() as sandbox:
        admin = sandbox.admin
        runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
        campaign_accounts(runtime, admin)
        now = datetime.now(UTC)
        with runtime.sessions() as s:
            apply_specs(s, [spec("Lobby day: meet at noon", at=now, to=("facebook",))], now=now)
        clock = [now]
        base = runtime.deliverer()
        deliverer = Deliverer(
            base.ledger, base.platforms, base.vault, base.policy, clock=lambda: clock[0]
        )
        with runtime.sessions() as s:
            delivery_id = s.scalars(select(Delivery.id)).one()

        admin.storm(600, platform="facebook")
        assert deliverer.run(delivery_id) == "deferred"  # Graph's #32: wait, not a try
        with runtime.sessions() as s:
            row = s.get(Delivery, delivery_id)
            assert row is not None and row.attempts == 0 and "rate limit" in (row.error or "")
            assert row.due_at == now and row.next_attempt_at == now + timedelta(minutes=10)
        admin.storm(0, platform="facebook")
        clock[0] = now + timedelta(minutes=10)
        assert deliverer.run(delivery_id) == "sent"
        posted = [
            p["text"] for a in admin.timeline() if a["name"] == "Union HQ" for p in a["posts"]
        ]
        assert posted == ["Lobby day: meet at noon"]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_outage_longer_than_the_grace_misses_the_posts_and_reports_them(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    admin = sandbox.admin
    runtime = sandbox_runtime(
        engine, database_url, sandbox.url, admin, MISSED_GRACE_MINUTES="1", RETRY_MAX_SECONDS="300"
    )
    runtime = through_doors(runtime, admin)
    campaign_accounts(runtime, admin)
    now = datetime.now(UTC)
    due = now + timedelta(seconds=2)
    specs = [
        spec(f"March {i} starts at the station", at=due, key=f"m{i}", to=("x",)) for i in range(4)
    ]
    specs.append(spec(thread=("1/ Strike day", "2/ Picket lines at 6"), at=due, key="t", to=("x",)))
    with runtime.sessions() as s:
        apply_specs(s, specs, now=now)
    admin.outage("x", 300)
    try:
        with daemon_running(runtime):
            deadline = time.monotonic() + 120
            while states(runtime, "x")[DeliveryState.MISSED] < len(specs):
                left = states(runtime, "x")
                assert not left[DeliveryState.SENT] and not left[DeliveryState.FAILED], left
                assert time.monotonic() < deadline, f"not missed in time: {left}"
                time.sleep(0.5)
            admin.outage("x", 0)  # back: a missed post stays missed, nothing goes late
            time.sleep(3)
    finally:
        admin.outage("x", 0)
    assert states(runtime, "x") == {DeliveryState.MISSED: len(specs)}
    with runtime.sessions() as s:
        errors = set(s.scalars(select(Delivery.error)))
        events = DeliveryOutcomes().scan(s, datetime.now(UTC), now - timedelta(minutes=1))
    assert all("could not reach the platform until its 1-minute grace ran out" in e for e in errors)
    assert Counter(e.kind for e in events) == {AlertKind.DELIVERY_MISSED: len(specs)}
    assert all(not a["posts"] for a in admin.timeline() if a["platform"] == "x")
