"""Reading Bluesky post engagement: ``app.bsky.feed.getPosts`` (at most 25 URIs a call).

The AppView's hydrated post views carry ``likeCount``, ``repostCount``, ``replyCount``
and ``quoteCount`` (https://docs.bsky.app/docs/api/app-bsky-feed-get-posts). The public
AppView needs no authentication, so reading costs no account's limits. A post that no
longer exists is simply absent from the answer: its reading says ``deleted``. Bluesky
publishes no views, bookmarks or clicks: those are unavailable (None), never 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.platforms.base import MetricsReading
from bot.platforms.bluesky import rules
from bot.platforms.bluesky.adapter import BlueskyPlatform
from bot.platforms.http import carry_out

MAX_URIS_PER_CALL = rules.MAX_URIS_PER_CALL
# The SDK's PostView fields (likeCount ... in the lexicon) -> Clarion's names.
_COUNTS = {
    "like_count": "likes",
    "repost_count": "reposts",
    "reply_count": "replies",
    "quote_count": "quotes",
}
BLUESKY_METRICS = tuple(_COUNTS.values())


class BlueskyMetrics:
    """Batch reads on the adapter's pooled session."""

    def __init__(self, platform: BlueskyPlatform) -> None:
        self._platform = platform

    def read(self, uris: Sequence[str]) -> list[MetricsReading]:
        """Readings for up to 25 posts (their ``at://`` URIs)."""
        if not 1 <= len(uris) <= MAX_URIS_PER_CALL:
            raise ValueError(f"between 1 and {MAX_URIS_PER_CALL} URIs per call, not {len(uris)}")
        call = rules.get_posts_call(list(uris), self._platform.appview_url)
        return parse_posts(carry_out(self._platform.session, call), uris)


def parse_posts(views: list[Any], asked: Sequence[str]) -> list[MetricsReading]:
    """Readings from one getPosts answer (the SDK's ``PostView`` models,
    ``rules.read_posts_response``); asked-for URIs missing from it are deleted."""
    readings: list[MetricsReading] = []
    seen: set[str] = set()
    for post in views:
        values: dict[str, int | None] = {}
        sources: dict[str, str] = {}
        for field, name in _COUNTS.items():
            value = getattr(post, field, None)
            ok = isinstance(value, int) and not isinstance(value, bool)
            values[name] = value if ok else None
            sources[name] = "bluesky.getPosts" if ok else "bluesky.unavailable"
        seen.add(post.uri)
        readings.append(MetricsReading(post.uri, values, sources))
    readings.extend(MetricsReading(uri, deleted=True) for uri in asked if uri not in seen)
    return readings
