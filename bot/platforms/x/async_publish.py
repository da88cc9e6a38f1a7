"""POST /2/tweets on asyncio: the burst path for posts (pledge releases).

Only a transport: the request is built, signed and read by ``bot.platforms.x.rules``, the
same ``publish_call`` ``XPlatform.publish`` carries out on requests, and sent by
``http.AsyncSender`` on the caller's aiohttp session. tweepy's own ``AsyncClient`` was
measured first (1.2 ms of CPU per post, a third of it in oauthlib re-parsing the header it
has just built); our signer (``bot.platforms.oauth1``) costs ~20 µs. One attempt per call,
as every adapter method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import aiohttp

from bot.platforms.base import Credentials, Published
from bot.platforms.http.aio import AsyncSender
from bot.platforms.x import rules

logger = logging.getLogger(__name__)


class XAsyncPublisher:
    """Creates posts for many accounts concurrently, in one event loop."""

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
