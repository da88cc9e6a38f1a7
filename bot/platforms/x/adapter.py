"""X (Twitter) API v2 adapter, through tweepy.Client with OAuth 1.0a user tokens.

One attempt per call, every failure classified once: HTTP answers by ``X_ERROR_TABLE``
(``bot.platforms.x.errors``), network failures by ``routing.classify_transport_error``.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import unicodedata
from collections import OrderedDict
from datetime import datetime
from typing import Any

import aiohttp
import requests
import tweepy

from bot.campaigns import text_rules
from bot.platforms.base import (
    AccountInfo,
    Credentials,
    Limits,
    OutcomeUnknown,
    PermanentError,
    Published,
    TransientError,
)
from bot.platforms.routing import (
    X_API_ORIGIN,
    session_for,
)
from bot.platforms.x.async_publish import XAsyncPublisher
from bot.platforms.x.errors import _classify_exception, _json_or_none

logger = logging.getLogger(__name__)


# Covers a 10,000-account release without rebuilding clients (~90 us each, measured).
_CLIENT_CACHE_SIZE = 16384
_USERNAME_CACHE_SIZE = 65536
_FIND_RECENT_PAGES = 3


_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def normalise_for_match(text: str) -> str:
    """The form two post texts are compared in when reconciling.

    X rewrites every URL to a t.co link in the returned ``text`` (docs.x.com: "All URLs
    are wrapped with t.co"), HTML-escapes &, < and > in it, and stores text NFC-normalised
    (twitter-text). So URLs become one placeholder, entities are unescaped, and both sides
    are NFC-normalised and stripped before comparing.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    return _URL.sub("<url>", text).strip()


def compose_text(text: str, link: str | None) -> str:
    """The exact text sent to X: ``link`` on its own line unless the text already holds it.

    The same rule the queue used to check the length (``text_rules.x_text``), so what was
    checked is what is sent.
    """
    return text_rules.x_text(text, link)


class XPlatform:
    """X API v2. ``creds.platform_user_id`` is the X user id."""

    name = "x"
    # 280 weighted characters (docs.x.com counting-characters: URLs count 23, emoji and
    # CJK 2); POST /2/tweets: 100 requests per 15 minutes per user
    # (docs.x.com/x-api/fundamentals/rate-limits, 2026).
    limits = Limits(
        max_length=280,
        weighted_length=True,
        supports_threads=True,
        posts_per_window_per_user=100,
        window_seconds=900,
    )

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_base_url: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 30.0,
        pool_size: int = 32,
    ) -> None:
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._bearer_token = bearer_token
        self._routes = {X_API_ORIGIN: api_base_url} if api_base_url else None
        # One session for every account and thread: connections to X are pooled.
        self.session = session_for(self._routes, pool_size=pool_size, timeout=timeout)
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str], tweepy.Client] = OrderedDict()
        self._usernames: OrderedDict[str, str] = OrderedDict()

    # -- clients -----------------------------------------------------------------------

    def _client(self, creds: Credentials) -> tweepy.Client:
        """A tweepy.Client for this token pair, cached (LRU, bounded, thread-safe).

        tweepy.Client is stateless apart from its keys and ``session`` (client.py:
        BaseClient.request uses ``self.session.request``), so a cached client can serve
        many threads. Its own fresh Session is closed and replaced by the shared one.
        """
        key = (creds.token, creds.secret)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = tweepy.Client(
            bearer_token=self._bearer_token,
            consumer_key=self._consumer_key,
            consumer_secret=self._consumer_secret,
            access_token=creds.token,
            access_token_secret=creds.secret,
            # Raw responses: we parse the JSON ourselves so an odd 2xx body becomes a
            # classified error rather than an AttributeError inside tweepy.
            return_type=requests.Response,
            # Never sleep inside the adapter: the scheduler must not block (STYLE.md 3).
            wait_on_rate_limit=False,
        )
        client.session.close()
        client.session = self.session
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > _CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
        return client

    def remember_handle(self, user_id: str, username: str) -> None:
        """Tell the adapter an account's username, so post URLs can name it
        (``verify`` learns it too); unknown ones get x.com/i/web/status/{id}."""
        with self._lock:
            self._usernames[user_id] = username
            self._usernames.move_to_end(user_id)
            while len(self._usernames) > _USERNAME_CACHE_SIZE:
                self._usernames.popitem(last=False)

    def post_url(self, user_id: str, post_id: str) -> str:
        with self._lock:
            username = self._usernames.get(user_id)
        if username:
            return f"https://x.com/{username}/status/{post_id}"
        return f"https://x.com/i/web/status/{post_id}"

    def async_publisher(self, session: aiohttp.ClientSession) -> XAsyncPublisher:
        """Single posts on asyncio, for bursts (bot/delivery/dispatcher.py); ``session`` belongs to
        the caller's event loop."""
        return XAsyncPublisher(
            session,
            self._consumer_key,
            self._consumer_secret,
            routes=self._routes,
            post_url=self.post_url,
        )

    # -- Platform ----------------------------------------------------------------------

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
    ) -> Published:
        if publish_at is not None:
            raise PermanentError(
                "X cannot hold a post for later: API v2 has no scheduled posts; "
                "Clarion must send it at the time instead"
            )
        body = compose_text(text, link)
        client = self._client(creds)
        try:
            response = client.create_tweet(text=body, in_reply_to_tweet_id=reply_to, user_auth=True)
        except Exception as exc:
            raise _classify_exception(exc, action="publish", idempotent=False) from None
        # A 2xx means X accepted the post; if we cannot read its id we do not know
        # which post it is, so the ledger must reconcile rather than resend.
        payload = _json_or_none(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(
                f"X accepted the post (HTTP {response.status_code}) but its id was unreadable",
                code=response.status_code,
            )
        post_id = str(data["id"])
        logger.info("published X post %s for user %s", post_id, creds.platform_user_id)
        return Published(
            platform_id=post_id,
            url=self.post_url(creds.platform_user_id, post_id),
            # What we sent: X's echo has t.co links and HTML entities in place of ours.
            text=body,
        )

    def find_recent(
        self, creds: Credentials, text: str, since: datetime, *, link: str | None = None
    ) -> Published | None:
        """GET /2/users/:id/tweets from ``since``, newest first, a few pages at most.

        Matches the text as ``publish`` sent it, compared in ``normalise_for_match`` form.
        """
        # Exactly the text ``publish`` sent for (text, link) — no "text plus any link"
        # guess, which could take an older post with another link for ours.
        wanted_forms = {normalise_for_match(compose_text(text, link))}
        client = self._client(creds)
        token: str | None = None
        for _ in range(_FIND_RECENT_PAGES):
            try:
                response = client.get_users_tweets(
                    creds.platform_user_id,
                    start_time=since,
                    max_results=100,
                    tweet_fields=["created_at"],
                    pagination_token=token,
                    user_auth=True,
                )
            except Exception as exc:
                raise _classify_exception(exc, action="timeline lookup", idempotent=True) from None
            page = _json_or_none(response)
            if not isinstance(page, dict):
                raise TransientError("X timeline lookup: unreadable answer")
            for item in page.get("data") or []:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                if normalise_for_match(str(item.get("text", ""))) in wanted_forms:
                    post_id = str(item["id"])
                    return Published(
                        platform_id=post_id,
                        url=self.post_url(creds.platform_user_id, post_id),
                        text=str(item.get("text", "")),
                        created_at=_parse_time(item.get("created_at")),
                    )
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                return None
        return None

    def verify(self, creds: Credentials) -> AccountInfo:
        client = self._client(creds)
        try:
            response = client.get_me(user_fields=["public_metrics"], user_auth=True)
        except Exception as exc:
            raise _classify_exception(exc, action="verify", idempotent=True) from None
        payload = _json_or_none(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise TransientError("X verify: unreadable answer")
        metrics = data.get("public_metrics")
        followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
        info = AccountInfo(
            platform_user_id=str(data["id"]),
            handle=str(data.get("username") or ""),
            name=str(data.get("name") or ""),
            followers=int(followers) if isinstance(followers, int) else None,
        )
        if info.handle:
            self.remember_handle(info.platform_user_id, info.handle)
        return info


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
