"""The Facebook burst path (asyncio): same posts, same error classes as the threaded path."""

from __future__ import annotations

import asyncio
import itertools
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
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import async_session

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


@pytest.fixture
def fb(sb):
    return FacebookPlatform(graph_base_url=sb.url, www_base_url=sb.url)


def fb_page(sb):
    page = sb.admin.create_page(f"Burst page {next(_names)}")
    return page, Credentials(page["page_token"], "", page["page_id"])


def test_facebook_posts_to_the_page_feed_with_the_link_as_its_field(sb, fb):
    page, creds = fb_page(sb)
    published = publish(fb, creds, "Picket at 7", link="https://union.test/p")
    [post] = sb.admin.posts("facebook", page["page_id"])
    assert post["text"] == "Picket at 7"
    assert post["id"] == published.platform_id
    assert published.url == f"https://www.facebook.com/{published.platform_id}"


def test_facebook_a_revoked_page_token_is_an_auth_error_that_does_not_quote_it(sb, fb):
    page, creds = fb_page(sb)
    sb.admin.revoke("facebook", page["page_token"])
    with pytest.raises(AuthError) as caught:
        publish(fb, creds, "After revoke")
    assert page["page_token"] not in caught.value.message


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"status": 500, "body": {"error": {"code": 2, "message": "Service temporarily"}}},
            TransientError,
        ),
        ({"status": 200, "body": "not json"}, OutcomeUnknown),
        ({"action": "drop"}, OutcomeUnknown),
        (
            {"status": 400, "body": {"error": {"code": 506, "message": "Duplicate status"}}},
            PermanentError,
        ),
    ],
)
def test_facebook_failures_are_classified_by_the_graph_table(sb, fb, answer, expected):
    page, creds = fb_page(sb)
    sb.admin.script("facebook", "POST", r"/feed$", [answer])
    with pytest.raises(expected) as caught:
        publish(fb, creds, "Scripted")
    assert type(caught.value) is expected
    if expected is TransientError:
        assert caught.value.maybe_sent  # a 5xx to a create: look before resending
