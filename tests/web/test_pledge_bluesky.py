"""Support with Bluesky: the supporter types their handle, signs in on the (sandbox)
Bluesky server, and comes back pledged; the campaign pages serve the client's metadata.

The campaign pages run in Starlette's test client at a loopback WEB_BASE_URL (the spec's
development client, so no server must fetch a document from here); the sandbox and
every Bluesky call go over real HTTP with the real OAuth client."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bot.platforms.bluesky import oauth
from bot.platforms.http import ANY_HOST, async_session, session_for
from bot.pledges import release
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle
from bot.settings import ConfigError, load_settings
from bot.storage.models import Account, Delivery, OAuthRequest, Pledge
from bot.storage.vault import generate_key
from bot.web.app import create_web_app
from tests.support.bluesky import call_pds, consent_bluesky
from tests.support.web import Clock, add_campaign, csrf_of, make_runtime

BASE = "http://127.0.0.1:8765"
_numbers = itertools.count(1)


@pytest.fixture
def bsky_runtime(engine: Engine, sandbox: SandboxHandle) -> Runtime:
    runtime = make_runtime(engine, sandbox, BASE)
    add_campaign(
        runtime,
        message={"x": "Stand with the reps", "bluesky": "Stand with the Fujitsu reps #union"},
    )
    return runtime


@pytest.fixture
def bsky_client(bsky_runtime: Runtime, clock: Clock) -> TestClient:
    app = create_web_app(bsky_runtime, clock=clock, page_cache_seconds=0)
    return TestClient(app, base_url=BASE, follow_redirects=False)


def supporter(sandbox: SandboxHandle) -> Any:
    assert sandbox.state is not None
    return sandbox.state.bluesky.create_account(f"rep{next(_numbers)}", "pass phrase")


def start(client: TestClient, handle: str) -> Any:
    page = client.get("/c/fujitsu/pledge/bluesky")
    assert page.status_code == 200, page.text
    return client.post(
        "/c/fujitsu/pledge/bluesky", data={"csrf": csrf_of(page.text), "handle": handle}
    )


def back_here(location: str) -> str:
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == BASE, location
    return f"{parts.path}?{parts.query}"


def test_a_supporter_pledges_with_their_handle_and_their_tokens_are_sealed(
    bsky_client: TestClient, bsky_runtime: Runtime, sandbox: SandboxHandle
) -> None:
    who = supporter(sandbox)
    campaign_page = bsky_client.get("/c/fujitsu")
    assert 'href="/c/fujitsu/pledge/bluesky"' in campaign_page.text

    started = start(bsky_client, f"@{who.handle}")

    assert started.status_code == 303, started.text
    authorize = started.headers["location"]
    # In a rehearsal the browser is sent to the sandbox standing in for bsky.social.
    assert authorize.startswith(f"{sandbox.url}/_host/bsky.social/oauth/authorize?")
    back = consent_bluesky(authorize, who.handle, "pass phrase")
    done = bsky_client.get(back_here(back))
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/w/")
    with bsky_runtime.sessions() as session:
        pledge = session.scalars(select(Pledge).where(Pledge.platform == "bluesky")).one()
        account = session.get(Account, pledge.account_id)
        assert account is not None
        assert account.platform_user_id == who.did and account.handle == who.handle
        creds = oauth.creds_of(bsky_runtime.vault.open(account.credentials))
        sealed = account.credentials
    assert creds["auth"] == "oauth" and creds["did"] == who.did
    assert creds["access_token"] not in sealed and creds["refresh_token"] not in sealed
    assert creds["client_id"].startswith("http://localhost?")
    # The token the pledge keeps works on the supporter's PDS.
    session = session_for({ANY_HOST: sandbox.url})
    answer = call_pds(session, creds, oauth.NonceBook())
    assert answer.status_code == 200 and answer.json()["did"] == who.did
    # The sign-in's sealed verifier and DPoP key are blanked once used.
    with bsky_runtime.sessions() as session:
        row = session.scalars(select(OAuthRequest).where(OAuthRequest.provider == "bluesky")).one()
        assert row.used_at is not None and row.secret == ""


def test_the_support_step_asks_for_a_handle_and_never_a_password(
    bsky_client: TestClient,
) -> None:
    page = bsky_client.get("/c/fujitsu/pledge/bluesky")
    assert page.status_code == 200
    assert 'name="handle"' in page.text and 'autocapitalize="none"' in page.text
    assert 'type="password"' not in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_mistyped_handle_shows_the_form_again_saying_what_was_wrong(
    bsky_client: TestClient,
) -> None:
    answer = start(bsky_client, "nobody-at-all.bsky.social")

    assert answer.status_code == 400
    assert 'value="nobody-at-all.bsky.social"' in answer.text
    assert "No Bluesky account has the handle nobody-at-all.bsky.social" in answer.text
    assert 'name="csrf"' in answer.text


def test_the_start_is_refused_without_the_form_token(bsky_client: TestClient) -> None:
    answer = bsky_client.post("/c/fujitsu/pledge/bluesky", data={"handle": "a.bsky.social"})
    assert answer.status_code == 403


def test_a_callback_in_another_browser_is_refused_and_pledges_nothing(
    bsky_client: TestClient,
    bsky_runtime: Runtime,
    clock: Clock,
    sandbox: SandboxHandle,
) -> None:
    who = supporter(sandbox)
    started = start(bsky_client, who.handle)
    back = consent_bluesky(started.headers["location"], who.handle, "pass phrase")
    other = TestClient(
        create_web_app(bsky_runtime, clock=clock, page_cache_seconds=0),
        base_url=BASE,
        follow_redirects=False,
    )

    assert other.get(back_here(back)).status_code == 400

    assert bsky_client.get(back_here(back)).status_code == 303  # its own browser: fine
    assert bsky_client.get(back_here(back)).status_code == 400  # but only once


def test_a_cancelled_sign_in_pledges_nothing(
    bsky_client: TestClient, bsky_runtime: Runtime, sandbox: SandboxHandle
) -> None:
    who = supporter(sandbox)
    started = start(bsky_client, who.handle)
    back = consent_bluesky(started.headers["location"], who.handle, "", cancel=True)

    answer = bsky_client.get(back_here(back))

    assert answer.status_code == 200 and "nothing was pledged" in answer.text
    with bsky_runtime.sessions() as session:
        assert session.scalars(select(Pledge)).first() is None


def test_the_campaign_pages_serve_a_confidential_clients_documents(
    engine: Engine, sandbox: SandboxHandle
) -> None:
    key = oauth.parse_client_key(oauth_key_json())
    assert key is not None
    runtime = runtime_with(engine, sandbox, "https://campaign.example", oauth_key_json(key))
    client = TestClient(create_web_app(runtime), base_url="https://campaign.example")

    doc = client.get("/oauth/bluesky/client-metadata.json").json()
    keys = client.get("/oauth/bluesky/jwks.json").json()["keys"]

    assert doc["client_id"] == "https://campaign.example/oauth/bluesky/client-metadata.json"
    assert doc["redirect_uris"] == ["https://campaign.example/oauth/bluesky/callback"]
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    assert [k["kid"] for k in keys] == [key["kid"]] and "d" not in keys[0]


def test_a_bluesky_key_that_is_not_a_key_stops_the_pages_naming_the_setting(
    engine: Engine, sandbox: SandboxHandle
) -> None:
    runtime = runtime_with(engine, sandbox, "https://campaign.example", "{not json")
    with pytest.raises(ConfigError, match="BLUESKY_OAUTH_KEY"):
        create_web_app(runtime)


def oauth_key_json(key: dict[str, Any] | None = None) -> str:
    import json

    from joserfc.jwk import ECKey

    return json.dumps(key or ECKey.generate_key("P-256", private=True).as_dict(private=True))


def runtime_with(engine: Engine, sandbox: SandboxHandle, base: str, key: str) -> Runtime:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": str(engine.url),
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
            "WEB_BASE_URL": base,
            "BLUESKY_OAUTH_KEY": key,
        },
    )
    return Runtime(settings, engine).with_sandbox(sandbox.url, sandbox.admin.app())


def test_signing_in_as_another_account_pledges_nothing_and_says_why(
    bsky_client: TestClient, bsky_runtime: Runtime, sandbox: SandboxHandle
) -> None:
    typed, other = supporter(sandbox), supporter(sandbox)
    started = start(bsky_client, typed.handle)
    back = consent_bluesky(started.headers["location"], other.handle, "pass phrase")

    answer = bsky_client.get(back_here(back))

    assert answer.status_code == 400
    assert "another Bluesky account" in answer.text and typed.handle in answer.text
    with bsky_runtime.sessions() as session:
        assert session.scalars(select(Pledge)).first() is None


def pledge(client: TestClient, sandbox: SandboxHandle) -> Any:
    """A supporter signs in through the campaign page and comes back pledged."""
    who = supporter(sandbox)
    started = start(client, who.handle)
    assert started.status_code == 303, started.text
    done = client.get(
        back_here(consent_bluesky(started.headers["location"], who.handle, "pass phrase"))
    )
    assert done.status_code == 303, done.text
    return who


def stored_creds(runtime: Runtime, did: str) -> dict[str, Any]:
    with runtime.sessions() as session:
        sealed = session.scalar(select(Account.credentials).where(Account.platform_user_id == did))
    assert sealed
    return oauth.creds_of(runtime.vault.open(sealed))


def released_deliveries(runtime: Runtime, now: datetime) -> list[int]:
    assert [o.state for o in release.run_due(runtime.sessions, now)] == ["releasing"]
    with runtime.sessions() as session:
        return [p.delivery_id for p in session.scalars(select(Pledge).order_by(Pledge.id))]


@pytest.fixture
def due_runtime(engine: Engine, sandbox: SandboxHandle, clock: Clock) -> Runtime:
    """A campaign of two pledges whose release time has just passed."""
    runtime = make_runtime(engine, sandbox, BASE)
    real_now = datetime.now(UTC)
    clock.now = real_now - timedelta(hours=1)
    add_campaign(
        runtime,
        message={"x": "Stand with the reps", "bluesky": "Stand with the Fujitsu reps #union"},
        goal=2,
        release_at=real_now - timedelta(minutes=1),
        window_minutes=0,
    )
    return runtime


@pytest.fixture
def due_client(due_runtime: Runtime, clock: Clock) -> TestClient:
    return TestClient(
        create_web_app(due_runtime, clock=clock, page_cache_seconds=0),
        base_url=BASE,
        follow_redirects=False,
    )


def expired_pledges(client: TestClient, sandbox: SandboxHandle, count: int) -> list[Any]:
    """``count`` pledges whose Bluesky tokens are already expired when stored."""
    assert sandbox.state is not None
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.access_seconds = -1.0
    try:
        return [pledge(client, sandbox) for _ in range(count)]
    finally:
        oauth_state.access_seconds = 900.0


def test_the_release_posts_from_each_bluesky_pledge_exactly_once_on_the_first_attempt(
    due_runtime: Runtime, clock: Clock, sandbox: SandboxHandle, due_client: TestClient
) -> None:
    client = due_client
    people = [pledge(client, sandbox), pledge(client, sandbox)]
    assert sandbox.state is not None
    sandbox.state.bluesky_oauth.rotate_nonce()
    sandbox.state.bluesky_oauth.rotate_nonce()  # every nonce Clarion holds is stale
    clock.now = datetime.now(UTC)
    deliveries = released_deliveries(due_runtime, clock.now)

    deliverer = due_runtime.deliverer()
    assert [deliverer.run(d) for d in deliveries] == ["sent", "sent"]
    assert [deliverer.run(d) for d in deliveries] == [None, None]  # never twice

    for who in people:
        [post] = sandbox.admin.bluesky_posts(who.did)
        assert post["record"]["text"] == "Stand with the Fujitsu reps #union"
    with due_runtime.sessions() as session:
        rows = session.scalars(select(Delivery).where(Delivery.id.in_(deliveries))).all()
        assert [(row.state, row.attempts) for row in rows] == [("sent", 1), ("sent", 1)]


def test_an_expired_pledge_session_is_refreshed_and_stored_before_its_post_goes(
    due_runtime: Runtime, clock: Clock, sandbox: SandboxHandle, due_client: TestClient
) -> None:
    people = expired_pledges(due_client, sandbox, 2)
    assert sandbox.state is not None
    oauth_state = sandbox.state.bluesky_oauth
    pledged = [stored_creds(due_runtime, who.did) for who in people]
    assert all(oauth.needs_refresh(creds) for creds in pledged)
    clock.now = datetime.now(UTC)
    deliveries = released_deliveries(due_runtime, clock.now)

    # The first on the threaded path, the second on the burst path (asyncio).
    assert due_runtime.deliverer().run(deliveries[0]) == "sent"
    platform = due_runtime.platforms["bluesky"]

    async def burst() -> str:
        async with async_session(timeout=10.0, limit=4) as http:
            publisher = platform.async_publisher(http)  # type: ignore[attr-defined]
            published = await publisher.publish(
                oauth.credentials_of(pledged[1]), "Stand with the Fujitsu reps #union", link=None
            )
            return str(published.platform_id)

    oauth_state.rotate_nonce()
    oauth_state.rotate_nonce()  # the burst path meets a stale nonce too
    asked_before = oauth_state.nonce_challenges
    uri = asyncio.run(burst())
    # The refresh (authorization server) and the post (PDS) were each challenged once,
    # and each answered within its own call.
    assert oauth_state.nonce_challenges == asked_before + 2

    for who, before in zip(people, pledged, strict=True):
        [post] = sandbox.admin.bluesky_posts(who.did)
        assert post["record"]["text"] == "Stand with the Fujitsu reps #union"
        after = stored_creds(due_runtime, who.did)
        assert after["refresh_token"] != before["refresh_token"]
        assert not oauth.needs_refresh(after)
        answer = call_pds(session_for({ANY_HOST: sandbox.url}), after, oauth.NonceBook())
        assert answer.status_code == 200, answer.text
    assert uri == sandbox.admin.bluesky_posts(people[1].did)[0]["uri"]
    with due_runtime.sessions() as session:
        first = session.get(Delivery, deliveries[0])
        assert first is not None and (first.state, first.attempts) == ("sent", 1)


def test_verifying_an_expired_pledge_session_refreshes_it_first(
    due_runtime: Runtime, sandbox: SandboxHandle, due_client: TestClient
) -> None:
    [who] = expired_pledges(due_client, sandbox, 1)
    before = stored_creds(due_runtime, who.did)

    info = due_runtime.platforms["bluesky"].verify(oauth.credentials_of(before))

    assert info.platform_user_id == who.did and info.handle == who.handle
    after = stored_creds(due_runtime, who.did)
    assert after["refresh_token"] != before["refresh_token"] and not oauth.needs_refresh(after)
