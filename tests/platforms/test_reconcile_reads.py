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

from bot.platforms.base import AuthError, Credentials, Published, TransientError, Wanted
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


def busy_x_account(sandbox, x, posts: int) -> tuple[Credentials, datetime, Published]:
    """An X account whose oldest post since ``since`` is ``first``, under ``posts`` more."""
    sandbox.admin.set_rate_limits(x_posts_per_user=100_000)
    user = sandbox.admin.create_x_user(f"busy{next(_names)}_{int(time.time()) % 10000}")
    creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
    since = datetime.now(UTC) - timedelta(minutes=5)
    first = x.publish(creds, "The first post, far down the timeline")
    for n in range(posts):
        x.publish(creds, f"Later post {n}")
    return creds, since, first


def test_a_look_that_cannot_read_back_to_the_attempt_says_so_rather_than_not_there(sandbox, x):
    # 150 later posts: the first is on the timeline's second page of 100. A look allowed
    # one page must not answer "not there" (which would resend it) but fail, to look again.
    creds, since, first = busy_x_account(sandbox, x, 150)
    wanted = [
        Wanted("The first post, far down the timeline", None, since),
        Wanted("Never sent", None, since),
    ]

    async def look(pages: int) -> list[Published | None]:
        async with async_session(timeout=5, limit=4) as session:
            publisher = x.async_publisher(session)
            publisher.look_max_pages = pages
            return await publisher.find_recent_many(creds, wanted)

    with pytest.raises(TransientError, match="not proven absent"):
        asyncio.run(look(1))
    found = asyncio.run(look(2))
    assert [f.platform_id if f else None for f in found] == [first.platform_id, None]

    x.look_max_pages = 1
    with pytest.raises(TransientError, match="not proven absent"):
        x.find_recent(creds, "Never sent", since)
    x.look_max_pages = 2
    assert x.find_recent(creds, "Never sent", since) is None
    found_one = x.find_recent(creds, "The first post, far down the timeline", since)
    assert found_one is not None and found_one.platform_id == first.platform_id


def test_a_page_feed_look_that_cannot_read_back_to_the_attempt_says_so(sandbox, fb):
    page = sandbox.admin.create_page(f"Busy page {next(_names)}")
    creds = Credentials(page["page_token"], "", str(page["page_id"]))
    since = datetime.now(UTC) - timedelta(minutes=5)
    first = fb.publish(creds, "The first Page post, far down the feed")
    for n in range(120):
        fb.publish(creds, f"Later Page post {n}")
    wanted = [Wanted("The first Page post, far down the feed", None, since)]

    async def look(pages: int) -> list[Published | None]:
        async with async_session(timeout=5, limit=4) as session:
            publisher = fb.async_publisher(session)
            publisher.look_max_pages = pages
            return await publisher.find_recent_many(creds, wanted)

    with pytest.raises(TransientError, match="not proven absent"):
        asyncio.run(look(1))
    [found] = asyncio.run(look(2))
    assert found is not None and found.platform_id == first.platform_id
