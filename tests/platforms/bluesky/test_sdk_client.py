"""The campaign account's app-password sign-in and AppView handle lookups run the atproto
SDK's own Client, over real loopback HTTP, on Clarion's routes."""

from __future__ import annotations

import base64
import json

import pytest

from bot.platforms.base import AuthError, TransientError
from bot.platforms.bluesky import sdk_client
from bot.platforms.bluesky.rules import PUBLIC_APPVIEW
from bot.platforms.http import ANY_HOST
from tests.platforms.bluesky.accounts import routes_to, xrpc_error
from tests.support.tiny_server import Answer


def jwt(claims: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256K', 'typ': 'at+jwt'})}.{part(claims)}.signature"


SESSION_ANSWER = {
    "did": "did:plc:campaignhq",
    "handle": "hq.bsky.social",
    "accessJwt": jwt({"sub": "did:plc:campaignhq", "exp": 4102444800, "iat": 1700000000}),
    "refreshJwt": jwt({"sub": "did:plc:campaignhq", "exp": 4102444800, "iat": 1700000000}),
}


def test_the_sign_in_is_the_sdks_create_session_sent_to_the_routed_host(tiny_server):
    tiny_server.answer = Answer(200, json.dumps(SESSION_ANSWER).encode())
    session = sdk_client.sign_in(
        "https://pds.example.net",
        "hq.bsky.social",
        "abcd-efgh-ijkl-mnop",
        routes={ANY_HOST: tiny_server.url},
        timeout=5,
    )
    [seen] = tiny_server.seen
    assert (seen.method, seen.path) == (
        "POST",
        "/_host/pds.example.net/xrpc/com.atproto.server.createSession",
    )
    headers = {name.lower(): value for name, value in seen.headers.items()}
    assert headers["user-agent"].startswith("atproto/")  # the SDK's own client sent it
    assert json.loads(seen.body) == {
        "identifier": "hq.bsky.social",
        "password": "abcd-efgh-ijkl-mnop",
    }
    assert session == {
        "did": "did:plc:campaignhq",
        "handle": "hq.bsky.social",
        "pds_url": "https://pds.example.net",
        "auth": "app_password",
        "access_token": SESSION_ANSWER["accessJwt"],
        "refresh_token": SESSION_ANSWER["refreshJwt"],
    }


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(401, b'{"error": "AuthenticationRequired", "message": "Invalid"}'), AuthError),
        (
            Answer(429, b'{"error": "RateLimitExceeded"}', {"ratelimit-reset": "4102444800"}),
            TransientError,
        ),
        (Answer(200, b'{"did": "did:plc:campaignhq"}'), TransientError),
    ],
    ids=["wrong-password", "rate-limited", "unreadable-answer"],
)
def test_the_sdks_errors_are_classified_by_our_table(tiny_server, answer, expected):
    tiny_server.answer = answer
    with pytest.raises(expected) as failed:
        sdk_client.sign_in(
            "https://pds.example.net",
            "hq.bsky.social",
            "x",
            routes={ANY_HOST: tiny_server.url},
            timeout=5,
        )
    if answer.status == 429:
        assert failed.value.rate_limited and failed.value.retry_after > 0


def test_an_unreachable_pds_is_transient(closed_port_url):
    with pytest.raises(TransientError, match="could not reach Bluesky"):
        sdk_client.sign_in(
            "https://pds.example.net",
            "hq.bsky.social",
            "x",
            routes={ANY_HOST: closed_port_url},
            timeout=2,
        )


def test_the_appview_resolves_a_handle_through_the_sdk_on_the_sandbox(sandbox):
    made = sandbox.admin.create_bluesky_account("resolvable")
    routes = routes_to(sandbox.url)
    assert (
        sdk_client.resolve_handle(made["handle"], PUBLIC_APPVIEW, routes=routes, timeout=5)
        == made["did"]
    )
    assert (
        sdk_client.resolve_handle("nobody.bsky.social", PUBLIC_APPVIEW, routes=routes, timeout=5)
        is None
    )


def test_a_sign_in_refused_by_the_sandbox_pds_for_a_rate_limit_waits_for_its_reset(sandbox):
    made = sandbox.admin.create_bluesky_account("ratelimited", password="abcd-efgh-ijkl-mnop")
    sandbox.admin.script(
        "bluesky",
        "POST",
        r"com\.atproto\.server\.createSession$",
        [xrpc_error(429, "RateLimitExceeded", "slow down", **{"ratelimit-reset": "4102444800"})],
    )
    try:
        with pytest.raises(TransientError) as failed:
            sdk_client.sign_in(
                "https://pds.bsky.network",
                made["handle"],
                "abcd-efgh-ijkl-mnop",
                routes=routes_to(sandbox.url),
                timeout=5,
            )
    finally:
        sandbox.admin.clear_scripts()
    assert failed.value.rate_limited
