"""The campaign page under a share spike: each campaign's page is rendered at most once
a second or so, however many phones ask for it meanwhile.

    cache = PageCache(ttl=1.5)
    page = await cache.get(slug, now, build)   # build() -> (html bytes), in a worker thread
    cache.forget(slug)                          # a pledge or withdrawal: next request rebuilds

Single flight: when an entry is out of date, the first request rebuilds it (one database
read) while the others are answered with the entry they already have, for up to
``stale_for`` seconds more; with no usable entry (cold start, or just forgotten) they wait
for that one rebuild instead of each reading the database. Errors (a 404) are never kept.

What is kept must be the same for every visitor: the page's body carries no CSRF token,
no session data and no address built from the request's Host header.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedPage:
    body: bytes
    etag: str  # strong: the body's hash, quoted (RFC 9110 §8.8.3)
    built_at: float  # time.monotonic() when rendered
    built_for: datetime  # the page clock's "now" it was rendered for
    generation: int


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


class PageCache:
    def __init__(
        self,
        ttl: float,
        *,
        stale_for: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.stale_for = stale_for
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, CachedPage] = {}
        self._generations: dict[str, int] = {}
        self._building: dict[tuple[str, int], concurrent.futures.Future[CachedPage]] = {}
        self.builds = 0  # pages rendered so far (the benchmark and tests read it)

    def forget(self, key: str) -> None:
        """Drop ``key``'s page: the next request renders it again, and a rendering begun
        before this call is not kept (it may predate the change that called it)."""
        with self._lock:
            self._generations[key] = self._generations.get(key, 0) + 1
            self._entries.pop(key, None)

    def _age_ok(self, entry: CachedPage, now: datetime, clock_now: float, limit: float) -> bool:
        # Both clocks: the monotonic one for real time, the page clock because tests (and a
        # rehearsal) move "now" by hours between two requests.
        return clock_now - entry.built_at < limit and (
            entry.built_for <= now < entry.built_for + timedelta(seconds=limit)
        )

    def fresh(self, key: str, now: datetime) -> CachedPage | None:
        """``key``'s page if it is up to date, without rendering anything."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.generation != self._generations.get(key, 0):
                return None
        return entry if self._age_ok(entry, now, self._monotonic(), self.ttl) else None

    async def get(self, key: str, now: datetime, build: Callable[[], bytes]) -> CachedPage:
        """``key``'s page, rendered by ``build`` (run in a worker thread) when out of date.
        A ``ttl`` of 0 keeps nothing: every request renders (tests that change the
        database behind the page's back)."""
        if self.ttl <= 0:
            body = await run_in_threadpool(build)
            return CachedPage(body, strong_etag(body), self._monotonic(), now, 0)
        clock_now = self._monotonic()
        with self._lock:
            generation = self._generations.get(key, 0)
            entry = self._entries.get(key)
            if entry is not None and entry.generation != generation:
                entry = None
            if entry is not None and self._age_ok(entry, now, clock_now, self.ttl):
                return entry
            future = self._building.get((key, generation))
            mine = future is None
            if future is None:
                future = concurrent.futures.Future()
                self._building[(key, generation)] = future
        if mine:
            await run_in_threadpool(self._fill, key, generation, now, build, future)
            return future.result()
        if entry is not None and self._age_ok(entry, now, clock_now, self.ttl + self.stale_for):
            return entry
        return await asyncio.wrap_future(future)

    def _fill(
        self,
        key: str,
        generation: int,
        now: datetime,
        build: Callable[[], bytes],
        future: concurrent.futures.Future[CachedPage],
    ) -> None:
        """Render and keep the page; settles ``future`` whatever happens, even when the
        request that started it has gone away, so no waiter is left hanging."""
        try:
            body = build()
        except BaseException as exc:
            with self._lock:
                self._building.pop((key, generation), None)
                # A page that can no longer be rendered (a cancelled campaign: 404) is not
                # served as stale either.
                self._entries.pop(key, None)
            future.set_exception(exc)
            return
        page = CachedPage(body, strong_etag(body), self._monotonic(), now, generation)
        with self._lock:
            self.builds += 1
            self._building.pop((key, generation), None)
            if self._generations.get(key, 0) == generation:
                self._entries[key] = page
        future.set_result(page)


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether If-None-Match names ``etag``: a list of entity tags or "*"; weak comparison
    (RFC 9110 §13.1.2), so a proxy's W/ prefix still matches."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags
