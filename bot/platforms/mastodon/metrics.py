"""Engagement of Mastodon statuses: favourites, boosts and replies, read in batches.

``GET /api/v1/statuses?id[]=...`` (Mastodon 4.3; Mastodon.py ``statuses``) returns the
statuses that still exist and leaves out the others, so a status missing from the answer
was deleted. An instance without that endpoint (older than 4.3) answers 404: then each
status is read on its own (``GET /api/v1/statuses/:id``). Mastodon has no quotes, views,
bookmarks or clicks a client can read: those are "not available" (None), never 0.
https://docs.joinmastodon.org/methods/statuses/#index, /entities/Status/.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from bot.platforms.base import Credentials, MetricsReading, PermanentError
from bot.platforms.mastodon.adapter import MastodonPlatform, sdk_call

logger = logging.getLogger(__name__)

# Mastodon's StatusesController reads at most 20 ids per request (DEFAULT_STATUSES_LIMIT).
MASTODON_BATCH = 20
SOURCE = "mastodon.status"
# Status entity field -> Clarion's metric name (bot.platforms.base.METRIC_NAMES).
FIELDS = {"favourites_count": "likes", "reblogs_count": "reposts", "replies_count": "replies"}
# Figures other networks give that Mastodon has none of: stored as "not available".
NOT_AVAILABLE = ("quotes", "views", "bookmarks")


def reading(status: Any) -> MetricsReading:
    values: dict[str, int | None] = {}
    sources: dict[str, str] = {}
    for field, name in FIELDS.items():
        value = status.get(field)
        values[name] = value if isinstance(value, int) else None
        sources[name] = f"{SOURCE}.{field}"
    for name in NOT_AVAILABLE:
        values[name] = None
        sources[name] = "mastodon.none"
    return MetricsReading(platform_id=str(status["id"]), values=values, sources=sources)


class MastodonMetrics:
    """Reads statuses' counts on their own instance with the posting account's token."""

    def __init__(self, platform: MastodonPlatform) -> None:
        self.platform = platform
        self.calls = 0

    def read(self, creds: Credentials, ids: Sequence[str]) -> list[MetricsReading]:
        # No token (a supporter's, deleted after the release): public statuses still read.
        client = self.platform.client(creds.server, creds.token or None)
        wanted = [str(i) for i in ids]
        found: dict[str, MetricsReading] = {}
        for start in range(0, len(wanted), MASTODON_BATCH):
            batch = wanted[start : start + MASTODON_BATCH]
            self.calls += 1
            try:
                statuses = sdk_call(
                    "Mastodon statuses", partial(client.statuses, batch), creds.token, client
                )
            except PermanentError:
                # 404: no batch endpoint on this instance (Mastodon < 4.3): one by one.
                found.update(self._one_by_one(client, creds, batch))
                continue
            for status in statuses or []:
                if status.get("id") is not None:
                    found[str(status["id"])] = reading(status)
        return [found.get(i) or MetricsReading(platform_id=i, deleted=True) for i in wanted]

    def _one_by_one(
        self, client: Any, creds: Credentials, ids: Sequence[str]
    ) -> dict[str, MetricsReading]:
        found: dict[str, MetricsReading] = {}
        for status_id in ids:
            self.calls += 1
            try:
                status = sdk_call(
                    "Mastodon status", partial(client.status, status_id), creds.token, client
                )
            except PermanentError:  # 404: deleted
                continue
            found[status_id] = reading(status)
        return found
