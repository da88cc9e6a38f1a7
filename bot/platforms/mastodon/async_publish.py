"""POST /api/v1/statuses on asyncio: the burst path for Mastodon (pledge releases).

Only a transport: Mastodon.py is synchronous (requests), so a release of thousands of
accounts through it needs a thread per request in flight. The request is built and read by
``bot.platforms.mastodon.rules``, the same ``publish_call`` ``MastodonPlatform.publish``
carries out on requests (with the same ``Idempotency-Key``), and sent by
``http.AsyncSender`` on the caller's aiohttp session. One attempt per call.
"""

from __future__ import annotations

import logging
from datetime import datetime

import aiohttp

from bot.platforms.base import Credentials, Published
from bot.platforms.http.aio import AsyncSender
from bot.platforms.mastodon import rules

logger = logging.getLogger(__name__)


class MastodonAsyncPublisher:
    """Creates statuses for many accounts, on any number of instances, in one event loop."""

    def __init__(self, session: aiohttp.ClientSession, routes: dict[str, str] | None) -> None:
        self._sender = AsyncSender(session, routes)

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        reply_to: str | None = None,
        publish_at: datetime | None = None,
        idempotency_key: str | None = None,
        record_key: str | None = None,  # unused: the instance names its own statuses
    ) -> Published:
        call = rules.publish_call(
            creds,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            idempotency_key=idempotency_key,
        )
        published = await self._sender.carry_out(call)
        logger.debug(
            "published Mastodon status %s for account %s",
            published.platform_id,
            creds.platform_user_id,
        )
        return published
