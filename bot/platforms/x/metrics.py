"""Reading X post metrics: ``GET /2/tweets?ids=`` (at most 100 ids a call).

docs.x.com/x-api/posts/lookup and docs.x.com/x-api/fundamentals/metrics:

- ``public_metrics`` (likes, reposts, replies, quotes, bookmarks, impressions) can be read
  with any authentication; we use the app's bearer token, so reading costs no user's
  request budget.
- ``non_public_metrics`` and ``organic_metrics`` (impressions, link clicks, profile
  clicks) only with the author's user token, and only for posts under 30 days old.
  Asked for otherwise, X still returns the post but adds a "not-authorized-for-field"
  error for it: those metrics are then unavailable (None), never 0.
- A post that no longer exists comes back as a "resource-not-found" error naming its id
  (the call itself is a 200): the reading says ``deleted``.

One attempt per call; failures are classified by ``errors.classify_client_failure``, so a
429 is a rate-limited TransientError carrying X's reset time.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import requests
import tweepy

from bot.platforms.base import AuthError, Credentials, MetricsReading, TransientError
from bot.platforms.x.adapter import XPlatform
from bot.platforms.x.errors import classify_client_failure, response_json

logger = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 100  # docs.x.com/x-api/posts/lookup: "ids: up to 100"
PRIVATE_METRICS_WINDOW = timedelta(days=30)

_PUBLIC = {
    "like_count": "likes",
    "retweet_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
    "bookmark_count": "bookmarks",
    "impression_count": "views",
}
_PRIVATE = {
    "impression_count": "views",
    "url_link_clicks": "link_clicks",
    "user_profile_clicks": "profile_clicks",
}
PUBLIC_METRICS = tuple(_PUBLIC.values())
PRIVATE_ONLY_METRICS = ("link_clicks", "profile_clicks")
X_METRICS = PUBLIC_METRICS + PRIVATE_ONLY_METRICS


class XMetrics:
    """Batch metric reads for one X app, sharing the adapter's pooled session."""

    def __init__(self, platform: XPlatform) -> None:
        self._platform = platform
        # Same package: the adapter's bearer token and its cached user clients.
        self._bearer = platform.bearer_token
        self._app_client: tweepy.Client | None = None

    def _app(self) -> tweepy.Client:
        if not self._bearer:
            raise AuthError("no X bearer token (X_BEARER_TOKEN): public metrics cannot be read")
        if self._app_client is None:
            client = tweepy.Client(
                bearer_token=self._bearer, return_type=requests.Response, wait_on_rate_limit=False
            )
            client.session.close()
            client.session = self._platform.session
            self._app_client = client
        return self._app_client

    def read_public(self, ids: Sequence[str]) -> list[MetricsReading]:
        """public_metrics for up to 100 posts, on the app's bearer token."""
        return self._read(self._app(), ids, user_auth=False, private=False)

    def read_private(self, creds: Credentials, ids: Sequence[str]) -> list[MetricsReading]:
        """Public and non-public metrics for up to 100 posts by the account
        ``creds`` belongs to, with its user token (the posts must be under 30 days)."""
        client = self._platform.user_client(creds)
        return self._read(client, ids, user_auth=True, private=True)

    def _read(
        self, client: tweepy.Client, ids: Sequence[str], *, user_auth: bool, private: bool
    ) -> list[MetricsReading]:
        if not 1 <= len(ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"between 1 and {MAX_IDS_PER_CALL} ids per call, not {len(ids)}")
        fields = ["public_metrics"]
        if private:
            # organic_metrics is not asked for: for posts that are not promoted it repeats
            # non_public_metrics' impressions and clicks, and it made each answer (and the
            # round) about a fifth bigger. parse_lookup still reads it if it comes.
            fields.append("non_public_metrics")
        try:
            response = client.get_tweets(list(ids), tweet_fields=fields, user_auth=user_auth)
        except Exception as exc:
            raise classify_client_failure(exc, action="metrics read", idempotent=True) from None
        payload = response_json(response)
        if not isinstance(payload, dict):
            raise TransientError("X metrics read: unreadable answer")
        return parse_lookup(payload, private=private)


def parse_lookup(payload: dict[str, Any], *, private: bool) -> list[MetricsReading]:
    """Readings from one ``GET /2/tweets`` answer (``data`` plus partial ``errors``)."""
    readings: list[MetricsReading] = []
    gone: set[str] = set()
    for error in payload.get("errors") or []:
        if not isinstance(error, dict):
            continue
        if str(error.get("type", "")).endswith("/resource-not-found"):
            post_id = error.get("resource_id") or error.get("value")
            if post_id:
                gone.add(str(post_id))
    for item in payload.get("data") or []:
        if not isinstance(item, dict) or "id" not in item:
            continue
        values: dict[str, int | None] = dict.fromkeys(X_METRICS)
        sources: dict[str, str] = {}
        _take(item.get("public_metrics"), _PUBLIC, "x.public_metrics", values, sources)
        if private:
            # organic first, non-public last: where both give a value they agree for
            # unpromoted posts, and non_public is the documented home of link clicks.
            _take(item.get("organic_metrics"), _PRIVATE, "x.organic_metrics", values, sources)
            _take(item.get("non_public_metrics"), _PRIVATE, "x.non_public_metrics", values, sources)
        for name in X_METRICS:
            sources.setdefault(name, "x.unavailable")
        readings.append(MetricsReading(str(item["id"]), values, sources))
    readings.extend(MetricsReading(post_id, deleted=True) for post_id in sorted(gone))
    return readings


def _take(
    block: Any,
    mapping: dict[str, str],
    source: str,
    values: dict[str, int | None],
    sources: dict[str, str],
) -> None:
    if not isinstance(block, dict):
        return
    for key, name in mapping.items():
        value = block.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            values[name] = value
            sources[name] = source
