"""The campaign page under a share spike: rendered once a second per campaign however
many ask, the same bytes for every visitor, revalidated with 304s, and fresh at once
after a pledge in this process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.web.page_cache import PageCache
from tests.support.web import Clock, add_campaign, pledge_x

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def slow_build(counter: list[int], gate: threading.Event | None = None) -> Callable[[], bytes]:
    def build() -> bytes:
        if gate is not None:
            gate.wait(5)
        counter.append(1)
        return f"page {len(counter)}".encode()

    return build


def test_a_hundred_requests_at_once_render_the_page_once() -> None:
    cache, built = PageCache(1.0), []
    gate = threading.Event()

    async def crowd() -> list[bytes]:
        asks = [asyncio.ensure_future(cache.get("fujitsu", NOW, slow_build(built, gate)))]
        await asyncio.sleep(0.05)  # the first has started rendering; the rest arrive
        asks += [
            asyncio.ensure_future(cache.get("fujitsu", NOW, slow_build(built, gate)))
            for _ in range(99)
        ]
        await asyncio.sleep(0.05)
        gate.set()
        pages = await asyncio.gather(*asks)
        return [p.body for p in pages]

    bodies = asyncio.run(crowd())
    assert len(built) == 1 and set(bodies) == {b"page 1"}


def test_an_out_of_date_page_is_rebuilt_once_while_the_others_get_the_last_one() -> None:
    ticks, built = Ticks(), []
    cache = PageCache(1.0, stale_for=5.0, monotonic=ticks)
    gate = threading.Event()

    async def run() -> tuple[bytes, list[bytes], bytes]:
        first = await cache.get("fujitsu", NOW, slow_build(built))
        ticks.now += 1.5  # out of date, still within stale_for
        later = NOW + timedelta(seconds=1.5)
        rebuilding = asyncio.ensure_future(cache.get("fujitsu", later, slow_build(built, gate)))
        await asyncio.sleep(0.05)
        meanwhile = [
            (await cache.get("fujitsu", later, slow_build(built, gate))).body for _ in range(20)
        ]
        gate.set()
        return first.body, meanwhile, (await rebuilding).body

    first, meanwhile, rebuilt = asyncio.run(run())
    assert first == b"page 1" and meanwhile == [b"page 1"] * 20
    assert rebuilt == b"page 2" and len(built) == 2


def test_a_forgotten_page_is_never_served_again_even_as_stale() -> None:
    ticks, built = Ticks(), []
    cache = PageCache(60.0, monotonic=ticks)

    async def run() -> list[bytes]:
        first = await cache.get("fujitsu", NOW, slow_build(built))
        cache.forget("fujitsu")
        second = await cache.get("fujitsu", NOW, slow_build(built))
        third = await cache.get("fujitsu", NOW, slow_build(built))
        return [first.body, second.body, third.body]

    assert asyncio.run(run()) == [b"page 1", b"page 2", b"page 2"]


def test_a_page_for_a_clock_moved_hours_ahead_is_rendered_again() -> None:
    cache, built = PageCache(60.0, monotonic=Ticks()), []

    async def run() -> list[bytes]:
        first = await cache.get("fujitsu", NOW, slow_build(built))
        later = await cache.get("fujitsu", NOW + timedelta(hours=3), slow_build(built))
        return [first.body, later.body]

    assert asyncio.run(run()) == [b"page 1", b"page 2"]


def test_a_failed_render_is_not_kept() -> None:
    cache = PageCache(1.0)

    def broken() -> bytes:
        raise LookupError("no such campaign")

    async def run() -> None:
        with pytest.raises(LookupError):
            await cache.get("nope", NOW, broken)
        assert (await cache.get("nope", NOW, lambda: b"now it exists")).body == b"now it exists"

    asyncio.run(run())


@pytest.fixture
def cached_client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(page_cache_seconds=60)


def test_the_campaign_page_is_public_cacheable_and_answers_304_to_its_etag(
    cached_client: TestClient, campaign: str
) -> None:
    first = cached_client.get("/c/fujitsu")
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "public, max-age=1, stale-while-revalidate=2"
    assert "set-cookie" not in first.headers
    again = cached_client.get("/c/fujitsu", headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = cached_client.get("/c/fujitsu", headers={"if-none-match": '"something-else"'})
    assert other.status_code == 200 and other.content == first.content


def test_the_cached_page_is_the_same_for_every_visitor_and_holds_no_csrf_token(
    make_client: Callable[..., TestClient], cached_client: TestClient, campaign: str
) -> None:
    signed_in = make_client(page_cache_seconds=60)
    signed_in.get("/c/fujitsu/pledge/x")  # this browser now has a session and a token
    theirs = signed_in.get("/c/fujitsu", headers={"host": "evil.example"})
    mine = cached_client.get("/c/fujitsu")
    assert theirs.content == mine.content
    assert 'name="csrf"' not in mine.text and "evil.example" not in mine.text
    # a response that refreshes a session cookie is for that browser only
    assert theirs.headers["cache-control"].startswith("private")


def test_a_pledge_shows_on_the_cached_page_at_once(
    cached_client: TestClient, sandbox, campaign: str
) -> None:
    assert '<progress id="progress" max="3" value="0">' in cached_client.get("/c/fujitsu").text
    sandbox.admin.create_x_user("cached_voice", followers=10)
    private = pledge_x(cached_client, "cached_voice")
    assert '<progress id="progress" max="3" value="1">' in cached_client.get("/c/fujitsu").text
    page = cached_client.get(private)
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    cached_client.post(private, data={"csrf": csrf, "confirm": "yes"})
    assert '<progress id="progress" max="3" value="0">' in cached_client.get("/c/fujitsu").text


def test_the_support_buttons_lead_to_a_step_that_is_never_cached(
    cached_client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, release_at=clock.now + timedelta(days=2))
    page = cached_client.get("/c/fujitsu").text
    assert 'href="/c/fujitsu/pledge/x"' in page and 'href="/c/fujitsu/pledge/facebook"' in page
    step = cached_client.get("/c/fujitsu/pledge/x")
    assert step.headers["cache-control"] == "no-store"
    assert 'action="/c/fujitsu/pledge/x"' in step.text and 'name="csrf"' in step.text
    assert "Sign in with X to pledge" in step.text
    assert cached_client.get("/c/fujitsu/pledge/mastodon").status_code == 404


def test_a_page_from_the_cache_goes_out_with_the_same_headers_as_a_rendered_one(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    client = make_client(page_cache_seconds=60)
    cache: PageCache = client.app.state.page_cache  # type: ignore[attr-defined]
    rendered = client.get("/c/fujitsu")
    from_cache = client.get("/c/fujitsu")
    assert cache.builds == 1 and from_cache.content == rendered.content
    for name in ("content-security-policy", "referrer-policy", "etag", "cache-control"):
        assert from_cache.headers[name] == rendered.headers[name], name
    assert from_cache.headers["content-type"] == "text/html; charset=utf-8"
    head = client.head("/c/fujitsu")
    assert head.status_code == 200 and head.headers["etag"] == rendered.headers["etag"]
    assert client.get("/c/fujitsu/").status_code == 307  # the router redirects it, as before


def test_a_page_that_fails_to_render_again_is_not_served_stale_any_more() -> None:
    ticks, built = Ticks(), []
    cache = PageCache(1.0, stale_for=60.0, monotonic=ticks)
    gate = threading.Event()

    def gone() -> bytes:
        raise LookupError("cancelled")

    async def run() -> list[bytes]:
        await cache.get("fujitsu", NOW, slow_build(built))
        ticks.now += 2
        with pytest.raises(LookupError):
            await cache.get("fujitsu", NOW, gone)
        rebuilding = asyncio.ensure_future(cache.get("fujitsu", NOW, slow_build(built, gate)))
        await asyncio.sleep(0.05)
        meanwhile = asyncio.ensure_future(cache.get("fujitsu", NOW, slow_build(built)))
        await asyncio.sleep(0.05)
        gate.set()
        return [(await rebuilding).body, (await meanwhile).body]

    # the request during the rebuild waits for it rather than getting page 1
    assert asyncio.run(run()) == [b"page 2", b"page 2"]
