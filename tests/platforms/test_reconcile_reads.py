"""The batch look for unknown outcomes (``find_recent_many`` on the burst path): one read
of an account's posts answers for several deliveries, on the sandbox, which verifies
every X signature (a wrong one would be a 401) and every Page token."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.platforms.base import AuthError, Credentials, Published, Wanted
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import async_session
from bot.platforms.x import XPlatform

_names = itertools.count(1)


def find_many(platform: Any, creds: Credentials, wanted: list[Wanted]) -> list[Published | None]:
    async def run() -> list[Published | None]:
        async with async_session(timeout=5, limit=4) as session:
            return await platform.async_publisher(session).find_recent_many(creds, wanted)

    return asyncio.run(run())


@pytest.fixture
def x(sandbox):
    app = sandbox.admin.app()
    return XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=sandbox.url)


@pytest.fixture
def fb(sandbox):
    return FacebookPlatform(graph_base_url=sandbox.url, www_base_url=sandbox.url)


def test_one_x_timeline_read_finds_the_posts_that_are_there_and_not_the_others(sandbox, x):
    user = sandbox.admin.create_x_user(f"look{next(_names)}_{int(time.time()) % 10000}")
    creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
    since = datetime.now(UTC) - timedelta(minutes=5)
    first = x.publish(creds, "Picket at the depot from 6am", link="https://example.org/p")
    second = x.publish(creds, "Rally & march at noon <bring banners>")

    found = find_many(
        x,
        creds,
        [
            Wanted("Picket at the depot from 6am", "https://example.org/p", since),
            Wanted("Never sent: strike vote tonight", None, since),
            Wanted("Rally & march at noon <bring banners>", None, since),
        ],
    )

    assert [f.platform_id if f else None for f in found] == [
        first.platform_id,
        None,
        second.platform_id,
    ]


def test_an_x_post_made_before_the_attempt_is_not_taken_for_it(sandbox, x):
    user = sandbox.admin.create_x_user(f"old{next(_names)}_{int(time.time()) % 10000}")
    creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
    x.publish(creds, "Same words as last year")
    after = datetime.now(UTC) + timedelta(seconds=2)

    assert find_many(x, creds, [Wanted("Same words as last year", None, after)]) == [None]


def test_one_page_feed_read_finds_the_posts_that_are_there_and_not_the_others(sandbox, fb):
    page = sandbox.admin.create_page(f"Look page {next(_names)}")
    creds = Credentials(page["page_token"], "", str(page["page_id"]))
    since = datetime.now(UTC) - timedelta(minutes=5)
    first = fb.publish(creds, "Branch meeting moved to Thursday")
    second = fb.publish(creds, "Bring a friend to the rally", link="https://example.org/r")

    found = find_many(
        fb,
        creds,
        [
            Wanted("Bring a friend to the rally", "https://example.org/r", since),
            Wanted("Never posted", None, since),
            Wanted("Branch meeting moved to Thursday", None, since),
        ],
    )

    assert [f.platform_id if f else None for f in found] == [
        second.platform_id,
        None,
        first.platform_id,
    ]


def test_a_refused_page_token_on_the_look_is_an_auth_error(sandbox, fb):
    page = sandbox.admin.create_page(f"Look page {next(_names)}")
    creds = Credentials("not-a-token", "", str(page["page_id"]))

    with pytest.raises(AuthError):
        find_many(fb, creds, [Wanted("Anything", None, datetime.now(UTC))])
