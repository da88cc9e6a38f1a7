"""X (Twitter) API v2 adapter: posts through our own request, reads through tweepy.Client.

Posts and thread parts are built, signed and read by ``bot.platforms.x.rules`` and sent on
the adapter's pooled requests session (``http.carry_out``), the same call the burst path
(``async_publish``) makes on aiohttp. tweepy.Client (OAuth 1.0a user tokens, signed by
oauthlib) keeps making the reads: timeline lookups to reconcile, ``verify``, metrics.
One attempt per call, every failure classified once: HTTP answers by ``X_ERROR_TABLE``
(``bot.platforms.x.errors``), network failures by ``http.classify_transport_error``.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime

import aiohttp
import requests
import tweepy

from bot.platforms.base import (
    LOOK_MAX_PAGES,
    AccountInfo,
    Credentials,
    Limits,
    Published,
    TransientError,
    look_ran_out,
)
from bot.platforms.http import carry_out, session_for, x_routes
from bot.platforms.x import rules
from bot.platforms.x.async_publish import XAsyncPublisher
from bot.platforms.x.errors import classify_client_failure, response_json
from bot.platforms.x.rules import compose_text, normalise_for_match

logger = logging.getLogger(__name__)


# Covers a 10,000-account release without rebuilding clients (~90 us each, measured).
_CLIENT_CACHE_SIZE = 16384
_USERNAME_CACHE_SIZE = 65536


class XPlatform:
    """X API v2. ``creds.platform_user_id`` is the X user id."""

    name = "x"
    look_max_pages = LOOK_MAX_PAGES  # how far back a look reads (bot/platforms/base.py)
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
        self.bearer_token = bearer_token
        self._routes = x_routes(api_base_url)
        # One session for every account and thread: connections to X are pooled.
        self.session = session_for(self._routes, pool_size=pool_size, timeout=timeout)
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str], tweepy.Client] = OrderedDict()
        self._usernames: OrderedDict[str, str] = OrderedDict()

    # -- clients -----------------------------------------------------------------------

    def user_client(self, creds: Credentials) -> tweepy.Client:
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
            bearer_token=self.bearer_token,
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

    def username_for(self, user_id: str) -> str | None:
        """The account's username, if ``verify`` or ``remember_handle`` told us it."""
        with self._lock:
            return self._usernames.get(user_id)

    def post_url(self, user_id: str, post_id: str) -> str:
        return rules.post_url(self.username_for(user_id), post_id)

    def async_publisher(self, session: aiohttp.ClientSession) -> XAsyncPublisher:
        """Single posts on asyncio, for bursts (bot/delivery/dispatcher.py); ``session`` belongs to
        the caller's event loop."""
        return XAsyncPublisher(
            session,
            self._consumer_key,
            self._consumer_secret,
            routes=self._routes,
            username_for=self.username_for,
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
        record_key: str | None = None,  # unused: the platform names its own posts
        idempotency_key: str | None = None,  # X has none: unknown outcomes are looked for
    ) -> Published:
        call = rules.publish_call(
            self._consumer_key,
            self._consumer_secret,
            creds,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            username=self.username_for(creds.platform_user_id),
        )
        published = carry_out(self.session, call)
        logger.info(
            "published X post %s for user %s", published.platform_id, creds.platform_user_id
        )
        return published

    def find_recent(
        self,
        creds: Credentials,
        text: str,
        since: datetime,
        *,
        link: str | None = None,
        record_key: str | None = None,  # unused: the platform names its own posts
    ) -> Published | None:
        """GET /2/users/:id/tweets from ``since``, newest first, back to ``since``
        (``look_ran_out`` past ``look_max_pages``).

        Matches the text as ``publish`` sent it, compared in ``normalise_for_match`` form.
        """
        # Exactly the text ``publish`` sent for (text, link) — no "text plus any link"
        # guess, which could take an older post with another link for ours.
        wanted_forms = {normalise_for_match(compose_text(text, link))}
        client = self.user_client(creds)
        token: str | None = None
        for _ in range(self.look_max_pages):
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
                raise classify_client_failure(
                    exc, action="timeline lookup", idempotent=True
                ) from None
            page = response_json(response)
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
                        created_at=rules.parse_time(item.get("created_at")),
                    )
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                return None
        raise look_ran_out(rules.TIMELINE_ACTION, self.look_max_pages)

    def verify(self, creds: Credentials) -> AccountInfo:
        client = self.user_client(creds)
        try:
            response = client.get_me(user_fields=["public_metrics"], user_auth=True)
        except Exception as exc:
            raise classify_client_failure(exc, action="verify", idempotent=True) from None
        payload = response_json(response)
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
