"""The X burst path (asyncio): same posts, same error classes as the threaded path.

Every scripted X error row (``scripted_rows``) is replayed through ``XAsyncPublisher``;
the sandbox verifies each signature it receives, so a wrong one would be a 401 here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
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
from bot.platforms.http import async_session
from bot.platforms.x import XPlatform, compose_text
from tests.platforms.x.scripted_rows import SCRIPTED_ROWS

_names = itertools.count(1)


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


def publish(platform: Any, creds: Credentials, text: str, link: str | None = None, timeout=5.0):
    """One publish on a fresh event loop and session, as the dispatcher would make it."""

    async def run() -> Published:
        async with async_session(timeout=timeout, limit=10) as session:
            return await platform.async_publisher(session).publish(creds, text, link=link)

    return asyncio.run(run())


def x_account(sb):
    user = sb.admin.create_x_user(f"burst{next(_names)}_{int(time.time()) % 10000}")
    return user, Credentials(user["access_token"], user["access_token_secret"], user["id"])


@pytest.fixture
def x(sb):
    app = sb.admin.app()
    return XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=sb.url)


def x_texts(sb, user_id):
    return [p["text"] for p in sb.admin.posts("x", user_id)]


# --- X ---------------------------------------------------------------------------------------


def test_x_posts_the_text_with_its_link_as_the_sdk_path_would(sb, x):
    user, creds = x_account(sb)
    published = publish(x, creds, "Stand with the Fujitsu reps", link="https://union.test/a")
    assert x_texts(sb, user["id"]) == [
        compose_text("Stand with the Fujitsu reps", "https://union.test/a")
    ]
    assert published.platform_id and published.url.endswith(published.platform_id)


def test_x_many_accounts_post_at_once_on_one_loop(sb, x):
    accounts = [x_account(sb) for _ in range(30)]

    async def run() -> list[Published]:
        async with async_session(timeout=5, limit=50) as session:
            publisher = x.async_publisher(session)
            return await asyncio.gather(
                *(
                    publisher.publish(c, f"Rally {i}", link=None)
                    for i, (_, c) in enumerate(accounts)
                )
            )

    results = asyncio.run(run())
    assert len({r.platform_id for r in results}) == 30
    assert [x_texts(sb, u["id"]) for u, _ in accounts] == [[f"Rally {i}"] for i in range(30)]


@pytest.mark.parametrize(("status", "body", "expected", "phrase"), SCRIPTED_ROWS)
def test_x_error_rows_are_classified_as_on_the_sdk_path(sb, x, status, body, expected, phrase):
    user, creds = x_account(sb)
    reset = int(time.time()) + 120
    sb.admin.script(
        "x",
        "POST",
        r"^/2/tweets$",
        [{"status": status, "headers": {"x-rate-limit-reset": str(reset)}, "body": body}],
    )
    with pytest.raises(expected) as caught:
        publish(x, creds, "Scripted")
    assert type(caught.value) is expected
    assert phrase in caught.value.message.lower()
    assert user["access_token"] not in caught.value.message
    if getattr(caught.value, "rate_limited", False):
        assert 100 <= caught.value.retry_after <= 121


def test_x_a_revoked_token_is_an_auth_error(sb, x):
    user, creds = x_account(sb)
    sb.admin.revoke("x", user["access_token"])
    with pytest.raises(AuthError):
        publish(x, creds, "After revoke")


def test_x_the_same_text_twice_is_a_permanent_duplicate(sb, x):
    _, creds = x_account(sb)
    publish(x, creds, "Same words")
    with pytest.raises(PermanentError) as caught:
        publish(x, creds, "Same words")
    assert caught.value.duplicate


@pytest.mark.parametrize("body", ["created, honest", ["an", "array"], {"data": {"text": "?"}}])
def test_x_an_accepted_post_with_an_unreadable_answer_is_an_unknown_outcome(sb, x, body):
    _, creds = x_account(sb)
    sb.admin.script("x", "POST", r"^/2/tweets$", [{"status": 201, "body": body}])
    with pytest.raises(OutcomeUnknown):
        publish(x, creds, "Lost id")


@pytest.mark.parametrize("action", ["drop", "reset"])
def test_x_a_connection_lost_after_sending_is_an_unknown_outcome(sb, x, action):
    _, creds = x_account(sb)
    sb.admin.script("x", "POST", r"^/2/tweets$", [{"action": action}])
    with pytest.raises(OutcomeUnknown):
        publish(x, creds, f"Connection {action}")


def test_x_a_timeout_after_sending_is_an_unknown_outcome(sb, x):
    _, creds = x_account(sb)
    sb.admin.script("x", "POST", r"^/2/tweets$", [{"action": "timeout", "seconds": 1}])
    with pytest.raises(OutcomeUnknown):
        publish(x, creds, "Slow answer", timeout=0.3)


def test_x_a_refused_connection_is_transient_because_nothing_was_sent(sb, closed_port_url):
    app = sb.admin.app()
    offline = XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=closed_port_url)
    with pytest.raises(TransientError) as caught:
        publish(offline, Credentials("t", "s", "1"), "Nobody home")
    assert type(caught.value) is TransientError
    assert not caught.value.maybe_sent
