"""POST /{page-id}/feed on asyncio: the burst path for single Page posts (pledge releases).

facebook-sdk is synchronous (requests), so a release of 1,000 Pages through it needs a
thread per request in flight. This sends the very request ``GraphAPI.put_object(page,
"feed", message=..., link=...)`` sends — form fields, the Page token in the body, the
Graph version we set — with aiohttp, and classifies the answer with the same table as
the facebook-sdk path (``classify_graph_response``). One attempt per call.
"""

from __future__ import annotations

import logging

import aiohttp

from bot.platforms.async_http import (
    NETWORK_FAILURES,
    classify_async_failure,
    json_or_none,
    proxy_for,
)
from bot.platforms.base import AuthError, Credentials, OutcomeUnknown, Published
from bot.platforms.facebook.adapter import classify_graph_response
from bot.platforms.routing import GRAPH_ORIGIN, reroute_url

logger = logging.getLogger(__name__)


class FacebookAsyncPublisher:
    """Creates Page posts for many Pages concurrently, in one event loop."""

    def __init__(
        self, session: aiohttp.ClientSession, graph_version: str, routes: dict[str, str] | None
    ) -> None:
        self._session = session
        self._base = reroute_url(f"{GRAPH_ORIGIN}/{graph_version}", routes or {})
        self._proxy = proxy_for(self._base)

    async def publish(self, creds: Credentials, text: str, *, link: str | None) -> Published:
        if not creds.token:
            raise AuthError("no Page token for this account")
        fields = {"message": text, "access_token": creds.token}
        if link:
            fields["link"] = link
        url = f"{self._base}/{creds.platform_user_id}/feed"
        try:
            async with self._session.post(url, data=fields, proxy=self._proxy) as answer:
                status = answer.status
                raw = await answer.read()
                headers = answer.headers
        except NETWORK_FAILURES as exc:
            raise classify_async_failure(exc, action="Facebook POST feed") from None
        body = json_or_none(raw) if raw else None
        if 200 <= status < 300 and isinstance(body, dict) and "error" not in body:
            post_id = body.get("id")
            if not post_id:
                raise OutcomeUnknown("Facebook accepted the post but returned no id")
            logger.debug("published Facebook post %s on Page %s", post_id, creds.platform_user_id)
            return Published(
                platform_id=str(post_id), url=f"https://www.facebook.com/{post_id}", text=text
            )
        if 200 <= status < 300 and not isinstance(body, dict):
            raise OutcomeUnknown(
                f"Facebook POST feed: accepted (HTTP {status}) but the answer was unreadable"
            )
        raise classify_graph_response(status, body, headers, secrets=(creds.token,))
