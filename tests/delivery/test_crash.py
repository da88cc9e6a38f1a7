"""Crash safety: SIGKILL the daemon at random points during a burst of 512 deliveries (X,
Facebook, Bluesky and Mastodon; every eighth on X, Bluesky and Mastodon a two-part thread),
with the sandbox also losing answers and answering 5xx to posts it created, restart it each
time, and every post and every thread part exists exactly once on the sandbox, each reply
under its own first part."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.campaigns.specs import PostSpec
from bot.sandbox.testing import SandboxAdmin, sandbox_process
from bot.storage.models import Account, Delivery, DeliveryState
from tests.support.crashes import any_open, wait_for_sends_in_flight
from tests.support.processes import DaemonProcess, runtime_for, write_config

POSTS_PER_PLATFORM = 128  # × 4 platforms = 512 deliveries, as many as X and Facebook had
PLATFORMS = ("x", "facebook", "bluesky", "mastodon")
THREADED = ("x", "bluesky", "mastodon")  # Facebook has no threads
THREAD_EVERY = 8  # post 0, 8, 16, ... on a threaded platform has a second part


def parts_of(i: int, platform: str) -> tuple[str, ...]:
    text = f"Crash test post {i} on {platform}: solidarity with the Fujitsu reps"
    if platform in THREADED and i % THREAD_EVERY == 0:
        return (text, f"Crash test post {i} on {platform}, part 2: join the picket at 7")
    return (text,)


@pytest.fixture
def sandbox():
    # Latency keeps requests in flight, so kills land mid-request as well as between them;
    # some answers are lost, and some posts are created but answered 5xx, as real
    # platforms and gateways do.
    faults = [
        (f"--{prefix}-{kind}-rate", "0.02")
        for prefix in ("x", "fb", "bsky", "mastodon")
        for kind in ("accept-then-drop", "accept-then-error", "error")
    ]
    with sandbox_process("--latency-ms", "40", *(part for flag in faults for part in flag)) as url:
        yield url


def queue_burst(runtime, start: datetime) -> None:
    from bot.campaigns.enqueue import apply_specs

    specs = []
    for i in range(POSTS_PER_PLATFORM):
        for platform in PLATFORMS:
            specs.append(
                PostSpec(
                    campaign="crash",
                    key=f"{platform}-{i}",
                    scheduled_at=start + timedelta(milliseconds=20 * i),
                    timezone="UTC",
                    targets=(platform,),
                    parts={platform: parts_of(i, platform)},
                )
            )
    with runtime.sessions() as session:
        apply_specs(session, specs, now=datetime.now(UTC))


def posts_on(admin: SandboxAdmin, platform: str, account: str) -> list[dict]:
    """The account's posts on the sandbox as {"id", "text", "parent"} (parent: the id it
    replies to, or None)."""
    if platform == "bluesky":
        return [
            {
                "id": p["uri"],
                "text": p["record"]["text"],
                "parent": (p["record"].get("reply") or {}).get("parent", {}).get("uri"),
            }
            for p in admin.bluesky_posts(account)
        ]
    if platform == "mastodon":
        local, _, host = account.partition("@")
        return [
            {"id": s["id"], "text": s["text"], "parent": s["in_reply_to_id"]}
            for s in admin.mastodon_statuses(host, local)
        ]
    return [
        {"id": p["id"], "text": p["text"], "parent": p.get("reply_to")}
        for p in admin.posts(platform, account)
    ]


@pytest.mark.slow
def test_killing_the_daemon_mid_burst_never_loses_or_doubles_a_post(
    tmp_path, empty_database, sandbox
):
    rng = random.Random(2026)
    admin = SandboxAdmin(sandbox)
    admin.set_rate_limits(x_posts_per_user=100_000, x_posts_per_app=1_000_000)
    config = write_config(
        tmp_path / "config.env",
        empty_database,
        sandbox,
        delivery_concurrency=8,
        retry_base_seconds=0.2,
        # Faults hit the checks too (a timeline read can get a 5xx or no answer); the
        # budget is generous so the test is about exactly-once, not about running out.
        max_attempts=20,
    )
    with DaemonProcess(config) as first:  # registers the campaign accounts on the sandbox
        first.wait_ready()
        first.terminate()
    runtime = runtime_for(config)
    queue_burst(runtime, datetime.now(UTC) + timedelta(seconds=3))

    kills = 0
    logs = []
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        if not any_open(runtime):
            break
        daemon = DaemonProcess(config).wait_ready()
        logs.append(daemon)
        if kills < 6:
            # Kill while sends are in flight, not on a wall-clock guess: a machine that
            # starts the daemon faster or slower would otherwise kill it before the burst
            # began or after it ended. A short random wait varies where in the send it lands.
            wait_for_sends_in_flight(runtime, timeout=30)
            time.sleep(rng.uniform(0.0, 0.25))
            daemon.kill()
            kills += 1
        else:
            time.sleep(2)
            daemon.terminate()
    assert kills == 6, "the burst finished before the daemon could be killed six times"
    interrupted = [d for d in logs if "interrupted mid-send" in d.output()]
    assert interrupted, "no kill landed mid-send: the test proved nothing about recovery"

    with runtime.sessions() as session:
        rows = list(session.scalars(select(Delivery)))
        accounts = {a.platform: a.platform_user_id for a in session.scalars(select(Account))}
    assert len(rows) == len(PLATFORMS) * POSTS_PER_PLATFORM
    unsent = [
        (r.post_id, r.platform, r.state, r.attempts, r.error)
        for r in rows
        if r.state != DeliveryState.SENT
    ]
    assert not unsent, f"not sent: {unsent}"
    for platform in PLATFORMS:
        on_sandbox = posts_on(admin, platform, accounts[platform])
        counts = Counter(p["text"] for p in on_sandbox)
        doubled = {text: n for text, n in counts.items() if n > 1}
        assert not doubled, f"posted more than once on {platform}: {doubled}"
        wanted = {t for i in range(POSTS_PER_PLATFORM) for t in parts_of(i, platform)}
        assert set(counts) == wanted
        ledger_ids = {i for r in rows if r.platform == platform for i in r.platform_ids}
        assert ledger_ids == {p["id"] for p in on_sandbox}
        # Every second part replies to its own first part, whatever the kills interrupted.
        by_text = {p["text"]: p for p in on_sandbox}
        for i in range(0, POSTS_PER_PLATFORM, THREAD_EVERY):
            parts = parts_of(i, platform)
            if len(parts) == 2:
                first, second = by_text[parts[0]], by_text[parts[1]]
                assert second["parent"] == first["id"], (platform, i, second, first)
