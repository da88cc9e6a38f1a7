"""POST /{page-id}/feed on asyncio: the burst path for Page posts (pledge releases), and
the feed reads that settle unknown outcomes after a crash in batches.

Only a transport: facebook-sdk is synchronous (requests), so a release of 1,000 Pages
through it needs a thread per request in flight. The request is built and read by
``bot.platforms.facebook.rules``, the same ``publish_call`` ``FacebookPlatform.publish``
carries out on requests, and sent by ``http.AsyncSender`` on the caller's aiohttp session.
One attempt per call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import aiohttp

from bot.platforms.base import LOOK_MAX_PAGES, Credentials, Published, Wanted, look_ran_out
from bot.platforms.facebook import rules
from bot.platforms.http.aio import AsyncSender

logger = logging.getLogger(__name__)


class FacebookAsyncPublisher:
    """Creates Page posts for many Pages concurrently, in one event loop."""

    look_max_pages = LOOK_MAX_PAGES  # how far back a look reads (bot/platforms/base.py)

    def __init__(
        self,
        session: aiohttp.ClientSession,
        graph_version: str,
        routes: dict[str, str] | None,
        *,
        app_secret: str | None = None,
    ) -> None:
        self._sender = AsyncSender(session, routes)
        self._version = graph_version
        self._app_secret = app_secret

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        reply_to: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,  # unused: the platform names its own posts
        idempotency_key: str | None = None,  # Graph has none: unknown outcomes are looked for
    ) -> Published:
        call = rules.publish_call(
            self._version,
            creds.platform_user_id,
            creds.token,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            app_secret=self._app_secret,
        )
        published = await self._sender.carry_out(call)
        logger.debug(
            "published Facebook post %s on Page %s", published.platform_id, creds.platform_user_id
        )
        return published

    async def find_recent_many(
        self, creds: Credentials, wanted: Sequence[Wanted]
    ) -> list[Published | None]:
        """Read the Page's feed once, from the earliest ``since`` back to it (or until every
        wanted post is found), and match every wanted post in it; ``look_ran_out`` when
        the feed goes further back than ``look_max_pages`` and some post was not found.
        Only the feed: the dispatcher sends posts Facebook holds (whose absence is settled
        on its scheduled posts) on the threaded path."""
        if not wanted:
            return []
        since = min(w.since for w in wanted)
        page_id = creds.platform_user_id
        posts: list[tuple[str | None, Published]] = []
        after: str | None = None
        for _ in range(self.look_max_pages):
            call = rules.feed_call(
                self._version,
                page_id,
                creds.token,
                since,
                after=after,
                app_secret=self._app_secret,
            )
            page = await self._sender.carry_out(call)
            posts.extend(page.posts)
            found = rules.match_feed(page_id, wanted, posts)
            after = page.after
            if not after or all(post is not None for post in found):
                return found
        raise look_ran_out(rules.FEED_ACTION, self.look_max_pages)
