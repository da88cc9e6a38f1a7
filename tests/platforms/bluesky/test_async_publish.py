"""The Bluesky burst path (asyncio): same posts, same error classes as the threaded path."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.platforms.base import (
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    Published,
    TransientError,
)
from bot.platforms.bluesky import BlueskyPlatform
from bot.platforms.http import async_session
from bot.platforms.record_keys import new_record_key
from tests.platforms.bluesky.accounts import CREATE, new_account, routes_to, texts_on, xrpc_error


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()
    sandbox.admin.bluesky_limits(access_lifetime_s=7200)


@pytest.fixture
def bsky(sb):
    return BlueskyPlatform(routes=routes_to(sb.url), timeout=5.0)


def publish(platform: Any, creds: Credentials, text: str, **kw: Any) -> Published:
    """One publish on a fresh event loop and session, as the dispatcher would make it."""

    async def run() -> Published:
        async with async_session(timeout=5.0, limit=10) as session:
            publisher = platform.async_publisher(session)
            return await publisher.publish(creds, text, link=kw.pop("link", None), **kw)

    return asyncio.run(run())


def test_a_burst_post_goes_under_its_record_key_with_its_link_card(sb, bsky):
    info, creds = new_account(sb)
    key = new_record_key()
    published = publish(
        bsky, creds, "Walk out at noon", link="https://union.test/w", record_key=key
    )
    assert published.platform_id == f"at://{info['did']}/app.bsky.feed.post/{key}"
    (post,) = sb.admin.bluesky_posts(info["did"])
    assert post["record"]["embed"]["external"]["uri"] == "https://union.test/w"


def test_a_burst_retry_under_the_same_key_is_refused_as_a_duplicate(sb, bsky):
    info, creds = new_account(sb)
    key = new_record_key()
    publish(bsky, creds, "Only once", record_key=key)
    with pytest.raises(PermanentError) as refused:
        publish(bsky, creds, "Only once", record_key=key)
    assert refused.value.duplicate
    assert texts_on(sb, info["did"]) == ["Only once"]


def test_the_burst_path_refreshes_an_expiring_session_first(sb, bsky):
    sb.admin.bluesky_limits(access_lifetime_s=30)
    info, creds = new_account(sb)
    publish(bsky, creds, "Fresh on asyncio")
    publish(bsky, creds, "And again")  # the refreshed pair is reused, not the retired one
    assert texts_on(sb, info["did"]) == ["And again", "Fresh on asyncio"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            xrpc_error(429, "RateLimitExceeded", "", **{"ratelimit-reset": "4102444800"}),
            TransientError,
        ),
        (xrpc_error(400, "ExpiredToken"), AuthError),
        (xrpc_error(401, "InvalidToken"), AuthError),
        (xrpc_error(403, "Forbidden"), AuthError),
        (xrpc_error(400, "InvalidSwap"), PermanentError),
        (xrpc_error(400, "InvalidRequest", "bad facet"), PermanentError),
        (xrpc_error(413, "PayloadTooLarge"), PermanentError),
        (xrpc_error(502, "UpstreamFailure"), TransientError),
        ({"status": 200, "body": "not json"}, OutcomeUnknown),
        ({"action": "drop"}, OutcomeUnknown),
        ({"action": "accept_then_drop"}, OutcomeUnknown),
    ],
)
def test_each_answer_is_classified_as_on_the_threaded_path(sb, bsky, answer, expected):
    _, creds = new_account(sb)
    sb.admin.script("bluesky", "POST", CREATE, [answer])
    with pytest.raises(expected):
        publish(bsky, creds, "Scripted burst")


def test_tasks_posting_for_one_expiring_account_spend_its_refresh_token_once(sb, bsky):
    sb.admin.bluesky_limits(access_lifetime_s=30)
    info, creds = new_account(sb)  # its access token expires within the margin
    sb.admin.bluesky_limits(access_lifetime_s=7200)  # the refreshed one will not
    refreshed: list[str] = []
    bsky.sessions.on_refresh = lambda did, c: refreshed.append(did)

    async def run() -> None:
        async with async_session(timeout=5.0, limit=10) as session:
            publisher = bsky.async_publisher(session)
            await asyncio.gather(
                *(publisher.publish(creds, f"Burst {n}", link=None) for n in range(8))
            )

    asyncio.run(run())
    assert len(texts_on(sb, info["did"])) == 8
    assert refreshed == [info["did"]]
