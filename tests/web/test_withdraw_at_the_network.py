"""Withdrawing a Bluesky or Mastodon pledge lets go at the network, and those pledges'
followers count in the campaign's reach.

The campaign pages run in Starlette's test client at a loopback WEB_BASE_URL (Bluesky's
development client); the sandbox's Bluesky authorization server and Mastodon instance
answer over real HTTP, to the real OAuth client and Mastodon.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bot.cli.pledges import summary
from bot.platforms.base import AuthError, Credentials
from bot.platforms.bluesky import oauth
from bot.platforms.http import ANY_HOST, session_for
from bot.pledges import oauth_sessions, revocations
from bot.pledges.jobs import PledgeJobs
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, free_port
from bot.storage.models import Account, Pledge, PledgeCampaign, PledgeState, TokenRevocation
from bot.web.app import create_web_app
from tests.support.bluesky import call_pds, pledge_with_bluesky
from tests.support.web import Clock, add_campaign, csrf_of, make_runtime, pledge_with_mastodon

BASE = "http://127.0.0.1:8766"
MESSAGE = {
    "x": "Stand with the reps",
    "bluesky": "Stand with the Fujitsu reps #union",
    "mastodon": "Stand with the Fujitsu reps",
}


@pytest.fixture
def net_runtime(engine: Engine, sandbox: SandboxHandle) -> Runtime:
    runtime = make_runtime(engine, sandbox, BASE)
    add_campaign(runtime, message=MESSAGE)
    return runtime


def app_client(runtime: Runtime, clock: Clock) -> TestClient:
    app = create_web_app(runtime, clock=clock, page_cache_seconds=0)
    return TestClient(app, base_url=BASE, follow_redirects=False)


def withdraw(client: TestClient, private: str) -> str:
    page = client.get(private)
    done = client.post(private, data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert done.status_code == 200, done.text
    assert "Your pledge is withdrawn" in done.text
    return done.text


def sealed_of(runtime: Runtime, platform: str, handle: str) -> Credentials:
    with runtime.sessions() as session:
        account = session.scalars(
            select(Account).where(Account.platform == platform, Account.handle == handle)
        ).one()
        return runtime.vault.open(account.credentials)


def queued(runtime: Runtime) -> list[TokenRevocation]:
    with runtime.sessions() as session:
        rows = revocations.pending(session)
        session.expunge_all()
        return rows


def bluesky_refuses(runtime: Runtime, creds: dict[str, Any]) -> bool:
    """Both tokens refused: the access token at the PDS, the refresh token at the
    authorization server."""
    answer = call_pds(session_for({ANY_HOST: _sandbox_url(runtime)}), creds, oauth.NonceBook())
    if answer.status_code != 401:
        return False
    with pytest.raises(AuthError, match="invalid_grant"):
        oauth_sessions.bluesky_client(runtime).refreshed(creds)
    return True


def _sandbox_url(runtime: Runtime) -> str:
    return runtime.settings.sandbox_url


def test_withdrawing_a_bluesky_pledge_revokes_its_session_so_bluesky_refuses_both_tokens(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    client = app_client(net_runtime, clock)
    who, private = pledge_with_bluesky(client, sandbox, "wd-bsky")
    creds = oauth.creds_of(sealed_of(net_runtime, "bluesky", who.handle))
    session = session_for({ANY_HOST: sandbox.url})
    assert call_pds(session, creds, oauth.NonceBook()).status_code == 200
    assert sandbox.state is not None
    before = sandbox.state.bluesky_oauth.revoked_sessions

    with caplog.at_level(logging.DEBUG):
        page = withdraw(client, private)

    assert "Clarion is also asking Bluesky to end the access you gave it" in page
    assert sandbox.state.bluesky_oauth.revoked_sessions == before + 1
    assert bluesky_refuses(net_runtime, creds)
    assert queued(net_runtime) == []  # done: nothing left to try
    with net_runtime.sessions() as s:
        account = s.scalars(select(Account).where(Account.platform_user_id == who.did)).one()
        assert account.credentials == ""
    for secret in (creds["access_token"], creds["refresh_token"]):
        assert secret not in caplog.text


def test_withdrawing_a_mastodon_pledge_revokes_its_token_even_when_another_app_came_later(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle
) -> None:
    client = app_client(net_runtime, clock)
    private = pledge_with_mastodon(client, sandbox, "wd.example", "ann")
    # A second campaign's sign-in registers a second app of Clarion's on the same
    # server (its own redirect URI): the token is Ann's app's, which is not the newest.
    add_campaign(net_runtime, "second", message=MESSAGE)
    pledge_with_mastodon(client, sandbox, "wd.example", "bob", slug="second")
    ann = sealed_of(net_runtime, "mastodon", "ann@wd.example")
    mastodon = net_runtime.platforms["mastodon"]
    assert mastodon.verify(ann).handle == "ann@wd.example"

    page = withdraw(client, private)

    assert "asking your Mastodon server to end the access" in page
    with pytest.raises(AuthError):
        mastodon.verify(ann)
    assert queued(net_runtime) == []


def test_a_bluesky_revocation_refused_to_the_client_is_given_up_loudly_not_taken_for_dead(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    client = app_client(net_runtime, clock)
    who, private = pledge_with_bluesky(client, sandbox, "wd-wrong")
    creds = oauth.creds_of(sealed_of(net_runtime, "bluesky", who.handle))
    assert sandbox.state is not None
    server = sandbox.state.bluesky_oauth
    # The session's tokens now belong to another client: the authorization server
    # refuses Clarion's revocation (400 unauthorized_client, RFC 7009 section 2.1).
    for issued in (server.access[creds["access_token"]], server.refresh[creds["refresh_token"]]):
        issued.client_id = "https://another-client.example/client-metadata.json"
    before = server.revoked_sessions

    with caplog.at_level(logging.INFO):
        withdraw(client, private)

    assert server.revoked_sessions == before and queued(net_runtime) == []
    with net_runtime.sessions() as s:
        account_id = s.scalars(select(Account.id).where(Account.platform_user_id == who.did)).one()
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"gave up revoking the bluesky token of account {account_id}" in error.getMessage()
    assert "unauthorized_client" in error.getMessage()
    assert "already dead" not in caplog.text
    for secret in (creds["access_token"], creds["refresh_token"]):
        assert secret not in caplog.text


def test_withdrawing_one_of_two_pledges_keeps_the_account_connected_and_says_so(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle
) -> None:
    client = app_client(net_runtime, clock)
    add_campaign(net_runtime, "second", message=MESSAGE)
    first = pledge_with_mastodon(client, sandbox, "two.example", "fay")
    pledge_with_mastodon(client, sandbox, "two.example", "fay", slug="second", again=True)
    fay = sealed_of(net_runtime, "mastodon", "fay@two.example")

    page = withdraw(client, first)

    # The second campaign, still to go out, posts with this token: nothing is deleted
    # or revoked, and the page does not claim otherwise.
    assert "stays connected to Clarion for the other campaign(s) you support" in page
    assert "tokens and any email you left were deleted" not in page
    assert "asking your Mastodon server to end the access" not in page
    assert queued(net_runtime) == []
    assert sealed_of(net_runtime, "mastodon", "fay@two.example") == fay
    assert net_runtime.platforms["mastodon"].verify(fay).handle == "fay@two.example"
    with net_runtime.sessions() as s:
        states = list(s.scalars(select(Pledge.state).order_by(Pledge.id)))
    assert states == [PledgeState.WITHDRAWN, PledgeState.ACTIVE]


def test_a_withdrawal_while_the_networks_are_down_is_done_at_once_and_revoked_later(
    engine: Engine,
    net_runtime: Runtime,
    clock: Clock,
    sandbox: SandboxHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = app_client(net_runtime, clock)
    who, bsky_private = pledge_with_bluesky(client, sandbox, "wd-down")
    md_private = pledge_with_mastodon(client, sandbox, "down.example", "cat")
    bsky = oauth.creds_of(sealed_of(net_runtime, "bluesky", who.handle))
    cat = sealed_of(net_runtime, "mastodon", "cat@down.example")
    # The same campaign pages, cut off from every network (nothing listens there).
    cut_off = Runtime(net_runtime.settings, engine).with_sandbox(
        f"http://127.0.0.1:{free_port()}",
        sandbox.admin.app(),
        acceleration=net_runtime.settings.sandbox_time_acceleration,
    )
    offline = app_client(cut_off, clock)

    with caplog.at_level(logging.INFO):
        withdraw(offline, bsky_private)
        withdraw(offline, md_private)

    with net_runtime.sessions() as s:
        assert {p.state for p in s.scalars(select(Pledge))} == {PledgeState.WITHDRAWN}
        assert set(s.scalars(select(Account.credentials))) == {""}
    waiting = queued(net_runtime)
    assert sorted(r.platform for r in waiting) == ["bluesky", "mastodon"]
    assert all(r.attempts == 1 and r.next_attempt_at > clock.now for r in waiting)
    assert all("ConnectionError" in r.last_error for r in waiting), [r.last_error for r in waiting]
    assert "could not be revoked yet" in caplog.text
    # Not revoked yet: the networks never heard of the withdrawal.
    assert (
        call_pds(session_for({ANY_HOST: sandbox.url}), bsky, oauth.NonceBook()).status_code == 200
    )
    net_runtime.platforms["mastodon"].verify(cat)

    # Still down a minute later: the daemon's try fails too and backs off further.
    later = PledgeJobs(cut_off, clock=lambda: clock.now + timedelta(minutes=2))
    assert later.token_revocations().retry == 2
    # The networks are back: the daemon's next look revokes both.
    back = PledgeJobs(net_runtime, clock=lambda: clock.now + timedelta(hours=1))
    report = back.token_revocations()

    assert (report.revoked, report.retry, report.gave_up) == (2, 0, 0)
    assert queued(net_runtime) == []
    assert bluesky_refuses(net_runtime, bsky)
    with pytest.raises(AuthError):
        net_runtime.platforms["mastodon"].verify(cat)
    for secret in (bsky["access_token"], bsky["refresh_token"], cat.token):
        assert secret not in caplog.text


def test_the_campaign_page_reach_counts_bluesky_and_mastodon_pledgers_followers(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle
) -> None:
    client = app_client(net_runtime, clock)
    pledge_with_bluesky(client, sandbox, "reach-bsky", followers=1234)
    pledge_with_mastodon(client, sandbox, "reach.example", "dee", followers=567)

    page = client.get("/c/fujitsu").text

    assert '<span data-testid="pledged">2</span>' in page
    assert '<span data-testid="reach">1,801</span>' in page
    with net_runtime.sessions() as s:
        assert sorted(s.scalars(select(Pledge.followers))) == [567, 1234]
        # `pledges show` (and its --json) report the same reach.
        shown = summary(s, s.scalars(select(PledgeCampaign)).one(), net_runtime.settings)
    assert shown["pledged_reach"] == 1801
    assert shown["by_platform"] == {"bluesky": 1, "mastodon": 1}


def test_the_readiness_check_reads_bluesky_and_mastodon_followers_again(
    net_runtime: Runtime, clock: Clock, sandbox: SandboxHandle
) -> None:
    client = app_client(net_runtime, clock)
    who, _ = pledge_with_bluesky(client, sandbox, "ready-bsky", followers=10)
    pledge_with_mastodon(client, sandbox, "ready.example", "eve", followers=20)
    assert sandbox.state is not None
    who.followers = 3000  # the sandbox's own account object: its AppView serves this
    eve = sandbox.state.mastodon.instance("ready.example").account_by_name("eve")
    assert eve is not None
    eve.followers = 400
    with net_runtime.sessions() as s:
        release_at = s.scalars(select(PledgeCampaign.release_at)).one()
    hours = net_runtime.settings.readiness_hours
    inside = release_at - timedelta(hours=hours / 2)

    PledgeJobs(net_runtime, clock=lambda: inside).readiness()

    page = client.get("/c/fujitsu").text
    assert '<span data-testid="reach">3,400</span>' in page
    with net_runtime.sessions() as s:
        assert sorted(s.scalars(select(Pledge.followers))) == [400, 3000]
