"""POST /2/tweets on asyncio: the burst path for posts (pledge releases), and the timeline
reads that settle unknown outcomes after a crash in batches.

Only a transport: the request is built, signed and read by ``bot.platforms.x.rules``, the
same ``publish_call`` ``XPlatform.publish`` carries out on requests, and sent by
``http.AsyncSender`` on the caller's aiohttp session. tweepy's own ``AsyncClient`` was
measured first (1.2 ms of CPU per post, a third of it in oauthlib re-parsing the header it
has just built); our signer (``bot.platforms.oauth1``) costs ~20 µs. One attempt per call,
as every adapter method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import aiohttp

from bot.platforms.base import LOOK_MAX_PAGES, Credentials, Published, Wanted, look_ran_out
from bot.platforms.http.aio import AsyncSender
from bot.platforms.x import rules

logger = logging.getLogger(__name__)


class XAsyncPublisher:
    """Creates posts for many accounts concurrently, in one event loop."""

    look_max_pages = LOOK_MAX_PAGES  # how far back a look reads (bot/platforms/base.py)

    def __init__(
        self,
        session: aiohttp.ClientSession,
        consumer_key: str,
        consumer_secret: str,
        *,
        routes: dict[str, str] | None,
        username_for: Callable[[str], str | None],
    ) -> None:
        self._sender = AsyncSender(session, routes)
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._username_for = username_for

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        reply_to: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,  # unused: the platform names its own posts
        idempotency_key: str | None = None,  # X has none: unknown outcomes are looked for
    ) -> Published:
        """Post ``text`` (with ``link`` composed as ``XPlatform.publish`` does) as the account."""
        call = rules.publish_call(
            self._consumer_key,
            self._consumer_secret,
            creds,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            username=self._username_for(creds.platform_user_id),
        )
        published = await self._sender.carry_out(call)
        logger.debug(
            "published X post %s for user %s", published.platform_id, creds.platform_user_id
        )
        return published

    async def find_recent_many(
        self, creds: Credentials, wanted: Sequence[Wanted]
    ) -> list[Published | None]:
        """Read the account's timeline once, from the earliest ``since`` back to it (or
        until every wanted post is found), and match every wanted post in it, as
        ``XPlatform.find_recent`` does for one. Raises ``look_ran_out`` when the timeline
        goes further back than ``look_max_pages`` and some post was not found."""
        if not wanted:
            return []
        since = min(w.since for w in wanted)
        username = self._username_for(creds.platform_user_id)
        posts: list[Published] = []
        token: str | None = None
        for _ in range(self.look_max_pages):
            call = rules.timeline_call(
                self._consumer_key,
                self._consumer_secret,
                creds,
                since,
                pagination_token=token,
                username=username,
            )
            page = await self._sender.carry_out(call)
            posts.extend(page.posts)
            found = rules.match_timeline(wanted, posts)
            token = page.next_token
            if not token or all(post is not None for post in found):
                return found
        raise look_ran_out(rules.TIMELINE_ACTION, self.look_max_pages)
