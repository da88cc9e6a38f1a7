"""Crash safety of a pledge release from supporters who signed in with OAuth: 100 Bluesky
supporters (AT Protocol OAuth: DPoP-bound tokens, server nonces, single-use refresh
tokens) and 100 Mastodon supporters on 3 instances (Clarion's app per instance,
Idempotency-Key). The daemon is SIGKILLed again and again while the release's posts are in
flight and restarted each time; the sandbox also loses answers and answers 5xx to posts it
created. Every supporter's post exists exactly once, under the id the ledger holds.

One kill is not made, on purpose: between the authorization server spending a refresh
token and Clarion storing its successor. Bluesky's server revokes the whole session when a
spent refresh token comes back (@atproto/oauth-provider, ``TokenManager
.consumeRefreshToken``: "Refresh token replayed"), so a refresh whose answer is lost ends
that supporter's sign-in whatever the client does; Clarion stores the successor at once
(bot/pledges/oauth_sessions.py) to keep that window a few milliseconds wide. The test
freezes the daemon (SIGSTOP), lets the sandbox finish what it was sent, and kills only if
every unspent refresh token is the one stored; otherwise it lets the daemon go on and tries
again a moment later.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.platforms.bluesky import oauth
from bot.platforms.record_keys import part_record_key
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxAdmin, sandbox_process
from bot.storage.models import Account, Delivery, DeliveryState, Pledge
from tests.support.crashes import any_open, wait_for_sends_in_flight
from tests.support.oauth_pledges import OAuthSupporter, pledge_with_oauth
from tests.support.pledge_release import Release, release_in
from tests.support.processes import DaemonProcess, runtime_for, write_config
from tests.support.web import add_campaign

BLUESKY = 100
MASTODON = 100
INSTANCES = 3
# Bluesky supporters whose access tokens live 5 s, shorter than the margin Clarion
# refreshes within (oauth.REFRESH_MARGIN_SECONDS): every post of theirs refreshes first, on
# the delivery path, in whichever daemon sends it.
EXPIRING = 10
KILLS = 4
SLUG = "rail"
MESSAGE = "Rail workers deserve a fair deal: stand with the RMT #FairDeal"


@pytest.fixture
def sandbox():
    with sandbox_process() as url:
        yield url


def faulty(admin: SandboxAdmin) -> None:
    """The faults and latency tests/delivery/test_crash.py runs its burst under, on both
    networks: latency keeps requests in flight so kills land mid-request, some answers are
    lost, some posts are created but answered 5xx. Set once the supporters have signed in:
    the sign-ins are not what is under test."""
    for platform in ("bluesky", "mastodon"):
        admin.set_faults(
            platform,
            latency_ms=40,
            accept_then_drop_rate=0.02,
            accept_then_error_rate=0.02,
            error_rate=0.02,
        )


def unstored_refreshes(runtime: Runtime, admin: SandboxAdmin) -> list[str]:
    """Bluesky accounts whose unspent refresh token on the sandbox is not the one stored:
    a refresh the server has answered and Clarion has not yet written down."""
    live = admin.bluesky_oauth()["refresh_tokens"]
    with runtime.sessions() as session:
        rows = session.execute(
            select(Account.platform_user_id, Account.credentials).where(
                Account.platform == "bluesky", Account.source == "pledge"
            )
        ).all()
    stored = {
        did: oauth.creds_of(runtime.vault.open(sealed))["refresh_token"] for did, sealed in rows
    }
    return [did for did, tokens in live.items() if stored.get(did) not in tokens]


def kill_outside_a_refresh(daemon: DaemonProcess, runtime: Runtime, admin: SandboxAdmin) -> None:
    """SIGKILL the daemon at a moment no Bluesky refresh is half done (module docstring)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        daemon.process.send_signal(signal.SIGSTOP)
        # The sandbox answers what it was sent before the freeze: give it a moment, and
        # kill only if two reads apart agree that nothing is half done.
        time.sleep(0.1)
        before = unstored_refreshes(runtime, admin)
        time.sleep(0.1)
        if unstored_refreshes(runtime, admin) == before == []:
            daemon.kill()
            return
        # Let it run long enough to store what it was answered (a database write).
        daemon.process.send_signal(signal.SIGCONT)
        time.sleep(0.1)
    daemon.kill()
    raise AssertionError("the daemon was never between Bluesky refreshes for 30 s")


def posts_of(admin: SandboxAdmin, who: OAuthSupporter) -> list[str]:
    if who.platform == "bluesky":
        return [p["uri"] for p in admin.bluesky_posts(who.user_id)]
    return [str(s["id"]) for s in admin.mastodon_statuses(who.host, who.local_id)]


@pytest.mark.slow
def test_killing_the_daemon_mid_release_posts_every_oauth_supporter_exactly_once(
    tmp_path, empty_database, sandbox
):
    rng = random.Random(2027)
    admin = SandboxAdmin(sandbox, timeout=30)
    config = write_config(
        tmp_path / "config.env",
        empty_database,
        sandbox,
        # All 200 posts are due at one instant: two at a time, 40 ms each, is at most 50
        # a second however fast the machine, so the release outlasts the kills.
        delivery_concurrency=4,
        delivery_max_in_flight=2,
        retry_base_seconds=0.2,
        # Faults hit the reads that settle unknown outcomes too; the budget is generous so
        # the test is about exactly-once, not about running out of attempts.
        max_attempts=20,
    )
    runtime = runtime_for(config)
    add_campaign(
        runtime,
        SLUG,
        message={"bluesky": MESSAGE, "mastodon": MESSAGE},
        goal=BLUESKY + MASTODON,
        window_minutes=0,
    )
    supporters = pledge_with_oauth(
        runtime,
        admin,
        sandbox,
        SLUG,
        bluesky=BLUESKY,
        mastodon=MASTODON,
        instances=INSTANCES,
        short_lived=EXPIRING,
    )
    faulty(admin)
    release_in(Release(runtime, admin, SLUG), 1.0)

    kills: list[datetime] = []
    logs: list[DaemonProcess] = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            if kills and not any_open(runtime):
                break
            daemon = DaemonProcess(config)
            logs.append(daemon)
            daemon.wait_ready()
            if len(kills) < KILLS:
                # Kill while posts are in flight (the release writes its deliveries, then
                # sends them); a short random wait varies where in a send it lands.
                wait_until(lambda: released(runtime), "the release never wrote its deliveries")
                wait_for_sends_in_flight(runtime, timeout=30)
                time.sleep(rng.uniform(0.0, 0.25))
                kill_outside_a_refresh(daemon, runtime, admin)
                kills.append(datetime.now(UTC))
            else:
                wait_until(lambda: not any_open(runtime), "the release did not settle", 120)
                daemon.terminate()
    finally:
        for left in logs:
            if left.process.poll() is None:  # a failed wait: no daemon outlives the test
                left.kill()
    output = "".join(d.output() for d in logs)
    assert len(kills) == KILLS, "the release finished before the daemon could be killed enough"
    assert "interrupted mid-send" in output, "no kill landed mid-send: nothing was recovered"

    with runtime.sessions() as session:
        rows = {
            r.Account.platform_user_id: r
            for r in session.execute(
                select(Delivery, Account)
                .join(Pledge, Pledge.delivery_id == Delivery.id)
                .join(Account, Account.id == Delivery.account_id)
            )
        }
        stored = {
            a.platform_user_id: oauth.creds_of(runtime.vault.open(a.credentials))
            for a in session.scalars(
                select(Account).where(Account.platform == "bluesky", Account.source == "pledge")
            )
        }
    assert len(rows) == BLUESKY + MASTODON
    unsent = [
        (who, r.Delivery.state, r.Delivery.attempts, r.Delivery.error)
        for who, r in rows.items()
        if r.Delivery.state != DeliveryState.SENT
    ]
    assert not unsent, f"not sent: {unsent}"

    wrong = []
    for who in supporters:
        delivery = rows[who.user_id].Delivery
        on_sandbox = posts_of(admin, who)
        if on_sandbox != delivery.platform_ids:
            wrong.append((who.handle, on_sandbox, delivery.platform_ids))
        elif who.platform == "bluesky":
            # The record is the one under the key chosen before the first attempt.
            rkey = on_sandbox[0].rsplit("/", 1)[-1]
            if rkey != part_record_key(str(delivery.record_key), 0):
                wrong.append((who.handle, rkey, delivery.record_key))
    assert not wrong, f"not exactly once, or not the ledger's id: {wrong}"
    assert Counter(who.platform for who in supporters) == {"bluesky": BLUESKY, "mastodon": MASTODON}

    # Unknown outcomes (lost answers, 5xx after creating, kills mid-send) were settled by
    # reading what the network holds, not by sending again.
    settled = Counter(
        who.platform for who in supporters if f"was already on {who.handle} (" in output
    )
    assert settled["bluesky"] and settled["mastodon"], f"settled by reading: {settled}"

    # The short-lived sessions were refreshed on the delivery path after a restart: a
    # 5-second token is always due, so a post of theirs sent after a kill refreshed first.
    expiring = [who for who in supporters if who.platform == "bluesky"][-EXPIRING:]
    after_restart = [
        who.handle for who in expiring if rows[who.user_id].Delivery.sent_at > kills[0]
    ]
    assert after_restart, "no short-lived session's post went out after a restart"
    assert all(stored[who.user_id]["refresh_token"] != who.refresh_token for who in expiring)


def released(runtime: Runtime) -> bool:
    """Whether the release has written its deliveries."""
    with runtime.sessions() as session:
        return session.scalar(select(Delivery.id).limit(1)) is not None


def wait_until(test: Callable[[], bool], failure: str, timeout: float = 60.0) -> None:
    """Wait on observed state: the ledger, read every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if test():
            return
        time.sleep(0.05)
    raise AssertionError(f"{failure} within {timeout} s")
