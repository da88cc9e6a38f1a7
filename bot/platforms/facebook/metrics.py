"""Reading Facebook Page post engagement, up to 50 posts a call, with the Page's token.

One call per batch: ``GET /?ids=a,b,...&fields=shares,reactions.summary(total_count).limit(0),
comments.summary(true).limit(0),insights.metric(post_media_view)``. Graph answers an object
keyed by id, at most 50 ids a call (multiple-ID lookups, https://developers.facebook.com/
docs/graph-api/guides/field-expansion), and the insights edge comes by field expansion in
the shape of ``GET /{post-id}/insights`` (https://developers.facebook.com/docs/graph-api/
reference/insights/#post-metrics). ``shares`` is left out when a post has none (then 0);
a missing reactions or comments summary, or a missing ``post_media_view``, is unavailable
(None), never 0.

One post that fails fails the whole lookup, so the reader finds it:

- a deleted post: ``#803 Some of the aliases you requested do not exist: <ids>`` (or #100
  subcode 33 "does not exist"). The ids Graph names are checked one by one (so one
  deleted post costs 3 calls, not 50) and marked deleted; the rest are read again.
- a post the token may not read (#10, another Page's post): the batch is halved until the
  post is found; it is left unread this round. If both halves are refused too, it is the
  token, not a post: the batch fails with one AuthError.
- insights Graph will not give: a retired metric (#100 "valid insights metric", as in the
  Nov 2025 deprecation of post_impressions) or a token without read_insights (#10). The
  batch is read again without insights, views are unavailable, and insights are not asked
  for again for a day (for every Page, or for that Page's token).
- a token Graph refuses altogether (AuthError: revoked, or no permission to read the
  Page's posts) is not tried again for an hour; a reconnected Page's new token is.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from bot.platforms.base import (
    AuthError,
    Credentials,
    MetricsReading,
    PermanentError,
    PlatformError,
)
from bot.platforms.facebook.adapter import FacebookPlatform

logger = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 50
FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
INSIGHT_METRIC = "post_media_view"
FIELDS_WITH_INSIGHTS = f"{FIELDS},insights.metric({INSIGHT_METRIC})"
FACEBOOK_METRICS = ("likes", "reposts", "replies", "views")
INSIGHTS_PAUSE_SECONDS = 24 * 3600.0  # after Graph refuses insights, before asking again
REFUSED_PAUSE_SECONDS = 3600.0  # after Graph refuses a token, before trying it again
_EVERY_PAGE = ""

_GONE = "gone"  # per-post outcomes of a lookup, beside the nodes themselves
_REFUSED = "refused"


def _per_post(exc: PlatformError) -> str | None:
    """Which per-post failure failed a lookup, if it is one (else the whole call failed)."""
    if isinstance(exc, PermanentError) and (
        exc.code == 803 or (exc.code == 100 and "does not exist" in exc.message)
    ):
        return _GONE
    if isinstance(exc, AuthError) and _is_permission(exc):
        return _REFUSED
    return None


def _is_permission(exc: PlatformError) -> bool:
    # Graph's "API Permission Denied" (10) and "API Permission" (200-299) codes; a dead
    # token (190, 102) is not about one post.
    return isinstance(exc.code, int) and (exc.code == 10 or 200 <= exc.code < 300)


def _about_insights(exc: PlatformError) -> bool:
    # "(#100) The value must be a valid insights metric", "nonexisting field (insights)",
    # "For field 'insights': The parameter metric is required": any #100 naming insights
    # is about the one field we can do without.
    return exc.code == 100 and "insights" in exc.message.lower()


def _named(message: str, ids: Sequence[str]) -> list[str]:
    """The requested ids Graph's message names (#803 lists them after a colon)."""
    wanted = set(ids)
    return [word for word in dict.fromkeys(re.split(r"[\s,':()]+", message)) if word in wanted]


class FacebookMetrics:
    """Thread-safe: the poller reads several Pages at once through one instance."""

    def __init__(
        self, platform: FacebookPlatform, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._platform = platform
        self._clock = clock
        self._lock = threading.Lock()
        # Keyed by Page and token (a reconnected Page gets a new token, and a new chance):
        self._insights_paused: dict[str, float] = {}  # key (or every Page) -> until
        self._refused: dict[str, tuple[float, AuthError]] = {}  # key -> (until, the error)
        self.calls = 0  # Graph calls made, for benchmarks and tests

    @staticmethod
    def _key(creds: Credentials) -> str:
        digest = hashlib.sha256(creds.token.encode()).hexdigest()[:16]  # never the token
        return f"{creds.platform_user_id}:{digest}"

    # -- insights on or off ------------------------------------------------------------

    def _insights_allowed(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            return all(self._insights_paused.get(k, 0.0) <= now for k in (_EVERY_PAGE, key))

    def _pause_insights(self, key: str) -> None:
        with self._lock:
            self._insights_paused[key] = self._clock() + INSIGHTS_PAUSE_SECONDS

    # -- reading -----------------------------------------------------------------------

    def read(
        self, creds: Credentials, ids: Sequence[str], *, insights: bool = True
    ) -> list[MetricsReading]:
        """Engagement of up to 50 posts of the Page ``creds`` belongs to.

        Deleted posts come back ``deleted``; posts the token may not read are left out
        (not read this time). Errors that are not about one post are raised, classified.
        A token Graph refused (AuthError) is refused again without a call for an hour.
        """
        if not 1 <= len(ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"between 1 and {MAX_IDS_PER_CALL} ids per call, not {len(ids)}")
        key = self._key(creds)
        with self._lock:
            until, refused = self._refused.get(key, (0.0, None))
        if refused is not None and self._clock() < until:
            raise refused
        unique = list(dict.fromkeys(ids))
        try:
            return self._read(creds, unique, key, insights)
        except AuthError as exc:
            # A dead token, or every part of a batch refused. One post refused alone may
            # be another Page's post, not the token: the Page's other batches still try.
            if not _is_permission(exc) or len(unique) > 1:
                with self._lock:
                    self._refused[key] = (self._clock() + REFUSED_PAUSE_SECONDS, exc)
            raise

    def _read(
        self, creds: Credentials, ids: list[str], key: str, insights: bool
    ) -> list[MetricsReading]:
        graph = self._platform.graph_client(creds.token)
        page_id = creds.platform_user_id
        with_insights = insights and self._insights_allowed(key)
        try:
            nodes = self._lookup(
                graph, ids, FIELDS_WITH_INSIGHTS if with_insights else FIELDS, top=True
            )
        except PermanentError as exc:
            if not (with_insights and _about_insights(exc)):
                raise
            logger.warning("Graph no longer gives %s (%s): views unavailable", INSIGHT_METRIC, exc)
            self._pause_insights(_EVERY_PAGE)
            with_insights = False
            nodes = self._lookup(graph, ids, FIELDS, top=True)
        except AuthError as exc:
            if not (with_insights and _is_permission(exc)):
                raise
            nodes = self._lookup(graph, ids, FIELDS, top=True)  # still refused: raises
            logger.info("Page %s: no insights with this token (%s)", page_id, exc.message)
            self._pause_insights(key)
            with_insights = False
        readings: list[MetricsReading] = []
        for post_id in ids:
            node = nodes.get(post_id)
            if node == _GONE:
                readings.append(MetricsReading(post_id, deleted=True))
            elif isinstance(node, dict):
                readings.append(_reading(post_id, node, with_insights))
            elif node == _REFUSED:
                logger.warning("Page %s may not read post %s: not read", page_id, post_id)
        return readings

    def _get(self, graph: Any, ids: list[str], fields: str) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        answer = graph.get_objects(ids, fields=fields)
        return answer if isinstance(answer, dict) else {}

    def _attempt(self, graph: Any, ids: list[str], fields: str) -> dict[str, Any] | PlatformError:
        """One lookup: its nodes, or the per-post error that failed it (others raise)."""
        try:
            return self._get(graph, ids, fields)
        except PlatformError as exc:
            if _per_post(exc) is None:
                raise
            return exc

    def _lookup(
        self,
        graph: Any,
        ids: list[str],
        fields: str,
        answer: dict[str, Any] | PlatformError | None = None,
        *,
        top: bool = False,
    ) -> dict[str, Any]:
        """post id -> node, _GONE or _REFUSED, finding the posts that fail a lookup."""
        if answer is None:
            answer = self._attempt(graph, ids, fields)
        if isinstance(answer, dict):
            return answer
        kind = _per_post(answer)
        assert kind is not None  # _attempt raised the others
        if len(ids) == 1:
            if top and kind == _REFUSED:
                raise answer  # the whole batch was this one post: let the caller decide
            return {ids[0]: kind}
        named = _named(answer.message, ids) if kind == _GONE else []
        if named:
            parts = [[i] for i in named] + [[i for i in ids if i not in named]]
        else:
            half = len(ids) // 2
            parts = [ids[:half], ids[half:]]
        parts = [part for part in parts if part]
        attempts = [self._attempt(graph, part, fields) for part in parts]
        if (
            top
            and kind == _REFUSED
            and all(isinstance(a, PlatformError) and _per_post(a) == _REFUSED for a in attempts)
        ):
            raise answer  # neither half reads: the token, not one post
        nodes: dict[str, Any] = {}
        for part, attempt in zip(parts, attempts, strict=True):
            nodes.update(self._lookup(graph, part, fields, attempt))
        return nodes


def _reading(post_id: str, node: dict[str, Any], with_insights: bool) -> MetricsReading:
    values, sources = parse_fields(node)
    if with_insights:
        values["views"] = _insight_value(node.get("insights"))
        if values["views"] is not None:
            sources["views"] = "graph.insights"
    return MetricsReading(post_id, values, sources)


def parse_fields(node: dict[str, Any]) -> tuple[dict[str, int | None], dict[str, str]]:
    values: dict[str, int | None] = dict.fromkeys(FACEBOOK_METRICS)
    sources = dict.fromkeys(FACEBOOK_METRICS, "graph.unavailable")
    shares = node.get("shares")
    if shares is None:
        values["reposts"], sources["reposts"] = 0, "graph.fields"  # absent = none yet
    elif isinstance(shares, dict) and isinstance(shares.get("count"), int):
        values["reposts"], sources["reposts"] = shares["count"], "graph.fields"
    for field, name in (("reactions", "likes"), ("comments", "replies")):
        edge = node.get(field)
        summary = edge.get("summary") if isinstance(edge, dict) else None
        total = summary.get("total_count") if isinstance(summary, dict) else None
        if isinstance(total, int):
            values[name], sources[name] = total, "graph.fields"
    return values, sources


def _insight_value(answer: Any) -> int | None:
    """post_media_view from an insights answer ``{"data": [{"name", "values"}]}``."""
    if not isinstance(answer, dict):
        return None
    for item in answer.get("data") or []:
        if isinstance(item, dict) and item.get("name") == INSIGHT_METRIC:
            points = item.get("values") or []
            value = points[-1].get("value") if points and isinstance(points[-1], dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None
