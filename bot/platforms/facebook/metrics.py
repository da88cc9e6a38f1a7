"""Reading Facebook Page post engagement, with the Page's token.

Fields (https://developers.facebook.com/docs/graph-api/reference/post/):
``GET /?ids=a,b&fields=shares,reactions.summary(total_count).limit(0),
comments.summary(true).limit(0)`` reads up to 50 posts a call (Graph's limit for
multiple-ID lookups, https://developers.facebook.com/docs/graph-api/guides/
field-expansion). ``shares`` is left out when a post has none (then 0); a missing
reactions or comments summary is unavailable (None), never 0.

Insights (https://developers.facebook.com/docs/graph-api/reference/insights/#post-metrics):
first asked for in the same call by field expansion (``insights.metric(post_media_view)``,
https://developers.facebook.com/docs/graph-api/guides/field-expansion); a Graph that
answers "nonexisting field (insights)" (the sandbox does) is remembered and asked
``GET /{post-id}/insights?metric=post_media_view`` instead, one post a call. ``post_impressions``
was replaced by ``post_media_view`` in November 2025; a metric Graph no longer returns
is unavailable. A token without read_insights (code 10 / 200-299) makes views
unavailable for the batch rather than failing the reading.

A deleted post: Graph answers code 100, subcode 33, "Object with ID … does not exist".
In a multi-id lookup one missing post fails the whole call, so the batch is read again
one post at a time to find out which.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.platforms.base import AuthError, Credentials, MetricsReading, PermanentError
from bot.platforms.facebook.adapter import FacebookPlatform

logger = logging.getLogger(__name__)

MAX_IDS_PER_CALL = 50
FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
INSIGHT_METRIC = "post_media_view"
FIELDS_WITH_INSIGHTS = f"{FIELDS},insights.metric({INSIGHT_METRIC})"
FACEBOOK_METRICS = ("likes", "reposts", "replies", "views")


def _is_gone(exc: PermanentError) -> bool:
    return exc.code == 100 and "does not exist" in exc.message


class FacebookMetrics:
    def __init__(self, platform: FacebookPlatform) -> None:
        self._platform = platform
        self._expand_insights = True  # until Graph says it has no such field

    def _objects(self, graph: Any, ids: Sequence[str], insights: bool) -> tuple[Any, bool]:
        """(nodes, whether they carry insights) for one multi-id lookup."""
        if insights and self._expand_insights:
            try:
                return graph.get_objects(list(ids), fields=FIELDS_WITH_INSIGHTS), True
            except PermanentError as exc:
                if not ("nonexisting field" in exc.message and "insights" in exc.message):
                    raise
                logger.info("Graph has no insights field expansion: reading insights per post")
                self._expand_insights = False
            except AuthError as exc:
                # No read_insights permission: read the rest; views stay unavailable.
                logger.info("no insights with this Page token (%s)", exc.message)
                return graph.get_objects(list(ids), fields=FIELDS), True
        return graph.get_objects(list(ids), fields=FIELDS), False

    def read(
        self, creds: Credentials, ids: Sequence[str], *, insights: bool = True
    ) -> list[MetricsReading]:
        """Engagement of up to 50 posts of the Page ``creds`` belongs to."""
        if not 1 <= len(ids) <= MAX_IDS_PER_CALL:
            raise ValueError(f"between 1 and {MAX_IDS_PER_CALL} ids per call, not {len(ids)}")
        graph = self._platform._graph(creds.token)  # same package: the adapter's client
        expanded = False
        try:
            nodes, expanded = self._objects(graph, ids, insights)
        except PermanentError as exc:
            if not _is_gone(exc):
                raise
            nodes = {}
            for post_id in ids:
                try:
                    nodes[post_id] = graph.get_object(post_id, fields=FIELDS)
                except PermanentError as one:
                    if not _is_gone(one):
                        raise
                    nodes[post_id] = None
        readings: list[MetricsReading] = []
        views_allowed = insights and not expanded
        for post_id in ids:
            node = nodes.get(post_id)
            if node is None and post_id in nodes:
                readings.append(MetricsReading(post_id, deleted=True))
                continue
            if not isinstance(node, dict):
                continue  # not in the answer: not read this time
            values, sources = parse_fields(node)
            if expanded:
                values["views"] = _insight_value(node.get("insights"))
                sources["views"] = (
                    "graph.insights" if values["views"] is not None else "graph.unavailable"
                )
            if views_allowed:
                try:
                    values["views"] = _views(graph, post_id)
                    sources["views"] = (
                        "graph.insights" if values["views"] is not None else "graph.unavailable"
                    )
                except AuthError as exc:
                    logger.info("no insights for Page %s: %s", creds.platform_user_id, exc)
                    views_allowed = False
                except PermanentError as exc:
                    if _is_gone(exc):
                        readings.append(MetricsReading(post_id, deleted=True))
                        continue
                    values["views"] = None  # e.g. #100 invalid metric: retired
                    sources["views"] = "graph.unavailable"
            readings.append(MetricsReading(post_id, values, sources))
        return readings


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


def _views(graph: Any, post_id: str) -> int | None:
    return _insight_value(graph.get_connections(post_id, "insights", metric=INSIGHT_METRIC))


def _insight_value(answer: Any) -> int | None:
    """post_media_view from an insights answer ``{"data": [{"name", "values"}]}``."""
    if not isinstance(answer, dict):
        return None
    for item in answer.get("data") or []:
        if isinstance(item, dict) and item.get("name") == INSIGHT_METRIC:
            points = item.get("values") or []
            value = points[-1].get("value") if points and isinstance(points[-1], dict) else None
            if isinstance(value, int):
                return value
    return None
