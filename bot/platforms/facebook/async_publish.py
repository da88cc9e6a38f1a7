"""POST /{page-id}/feed on asyncio: the burst path for Page posts (pledge releases).

Only a transport: facebook-sdk is synchronous (requests), so a release of 1,000 Pages
through it needs a thread per request in flight. The request is built and read by
``bot.platforms.facebook.rules``, the same ``publish_call`` ``FacebookPlatform.publish``
carries out on requests, and sent by ``http.AsyncSender`` on the caller's aiohttp session.
One attempt per call.
"""

from __future__ import annotations

import logging
from datetime import datetime

import aiohttp

from bot.platforms.base import Credentials, Published
from bot.platforms.facebook import rules
from bot.platforms.http.aio import AsyncSender

logger = logging.getLogger(__name__)


class FacebookAsyncPublisher:
    """Creates Page posts for many Pages concurrently, in one event loop."""

    def __init__(
        self, session: aiohttp.ClientSession, graph_version: str, routes: dict[str, str] | None
    ) -> None:
        self._sender = AsyncSender(session, routes)
        self._version = graph_version

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        reply_to: str | None = None,
        publish_at: datetime | None = None,
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
        )
        published = await self._sender.carry_out(call)
        logger.debug(
            "published Facebook post %s on Page %s", published.platform_id, creds.platform_user_id
        )
        return published
