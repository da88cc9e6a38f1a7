"""createRecord on asyncio: the burst path for Bluesky posts (pledge releases).

Only a transport: the request is built and read by ``bot.platforms.bluesky.rules``, the
same ``publish_call`` ``BlueskyPlatform.publish`` carries out on requests, sent by
``http.AsyncSender``. A session about to expire is refreshed first: an app-password one
on the same loop, an OAuth one by ``Sessions.refresh_oauth`` in a thread (it reads and
writes the database). Like the threaded adapter, a request refused only for want of the
server's DPoP nonce is sent once more with it (``BlueskyPlatform.signed_call`` says why).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import aiohttp

from bot.platforms.base import Credentials, PermanentError, Published
from bot.platforms.bluesky import credentials, rules
from bot.platforms.bluesky.sessions import Sessions
from bot.platforms.http.aio import AsyncSender

logger = logging.getLogger(__name__)


class BlueskyAsyncPublisher:
    """Creates posts for many accounts concurrently, in one event loop."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        routes: dict[str, str] | None,
        sessions: Sessions,
        clock: Callable[[], datetime],
    ) -> None:
        self._sender = AsyncSender(session, routes)
        self._sessions = sessions
        self._clock = clock
        # A refresh token works once: tasks of one account wait for one refresh.
        self._refreshing: dict[str, asyncio.Lock] = {}

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        reply_to: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,
        idempotency_key: str | None = None,  # record keys make repeats harmless instead
    ) -> Published:
        if reply_to is not None:
            raise PermanentError("thread parts go through the threaded path")
        account = self._sessions.current(creds)
        if self._sessions.oauth_due(account):
            fresh = await asyncio.to_thread(self._sessions.refresh_oauth, creds)
            account = credentials.unpack(fresh)
        elif self._sessions.needs_refresh(account):
            key = str(account["refresh_token"])
            async with self._refreshing.setdefault(key, asyncio.Lock()):
                account = self._sessions.current(creds)  # another task may have done it
                if self._sessions.needs_refresh(account):
                    account = await self._sender.carry_out(rules.refresh_call(account))
                    self._sessions.refreshed(creds, account)
        call = rules.publish_call(
            account,
            text,
            link=link,
            publish_at=publish_at,
            record_key=record_key,
            created_at=self._clock(),
        )
        response = await self._sender.send(call.request)
        rules.authorize.observe(account, call.request.url, response)
        if rules.asks_for_nonce(account, response):
            # The DPoP nonce handshake (RFC 9449 sections 8 and 9): refused before
            # anything was written; the same record goes again, once, with the nonce.
            response = await self._sender.send(rules.signed_again(account, call.request))
            rules.authorize.observe(account, call.request.url, response)
        published = call.read(response)
        logger.debug("published Bluesky post %s", published.platform_id)
        return published
