"""Page insights: ``GET /{page-id}/insights?metric=...&period=...[&since=&until=]``.

The answer is Graph's ``{"data": [{"name", "period", "values": [{"value", "end_time"}],
"title", "description", "id"}], "paging": {...}}``
(https://developers.facebook.com/docs/graph-api/reference/insights). A metric Graph has
retired is the same invalid-metric error as for post insights: the "impressions" and
"page fans" metrics went on 15 November 2025 ("page_media_view" and "page_follows" replace
them), ``page_engaged_users`` and many more before
(https://developers.facebook.com/docs/platforminsights/page/deprecated-metrics).

Values come from the Page's posts as the sandbox knows them now: a day's (week's, 28
days') figure adds up the posts published in that window, so numbers are consistent with
the posts' own insights but do not replay how they grew.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.model import FbPage, FbPost, graph_time

DAY = 86_400
PERIODS = {"day": DAY, "week": 7 * DAY, "days_28": 28 * DAY}
# Graph ends its days at midnight Pacific time; 08:00 UTC (PST) all year here.
_DAY_END_UTC_HOUR = 8
MAX_RANGE_DAYS = 93  # the widest since/until range the Insights API answers

PAGE_METRICS = {
    "page_media_view": (
        "Media views",
        "The number of times your content was played or displayed.",
    ),
    "page_total_media_view_unique": (
        "Media viewers",
        "The number of people who saw your content at least once.",
    ),
    "page_post_engagements": (
        "Post engagements",
        "The number of times people have engaged with your posts through reactions, "
        "comments, shares and more.",
    ),
    "page_follows": (
        "Follows",
        "The number of people who follow your Page.",
    ),
}
RETIRED_PAGE_METRICS = frozenset(
    {
        "page_impressions",
        "page_impressions_unique",
        "page_impressions_paid",
        "page_impressions_paid_unique",
        "page_impressions_organic_v2",
        "page_impressions_viral",
        "page_impressions_viral_unique",
        "page_impressions_nonviral",
        "page_impressions_nonviral_unique",
        "page_posts_impressions",
        "page_posts_impressions_unique",
        "page_posts_impressions_paid",
        "page_posts_impressions_organic_unique",
        "page_posts_impressions_viral",
        "page_fans",
        "page_fan_adds",
        "page_fan_adds_unique",
        "page_fan_removes",
        "page_fan_removes_unique",
        "page_fans_locale",
        "page_fans_city",
        "page_fans_country",
        "page_engaged_users",
        "page_consumptions",
    }
)
# Of the people who saw a post, how many saw it more than once: a fixed share here.
_UNIQUE_SHARE = 0.7


def no_metric() -> errors.GraphError:
    # Insights reference: without a metric "returns error code 3001, with subcode 1504028".
    return errors.GraphError(
        "No metric was specified to be fetched. Please specify one or more metrics to be "
        "fetched and try again.",
        code=3001,
        subcode=1504028,
    )


def _metric_names(raw: str | None) -> list[str]:
    names = [m.strip() for m in (raw or "").strip("[]").replace('"', "").split(",")]
    return list(dict.fromkeys(m for m in names if m))


def _day_ends(now: float, since: float | None, until: float | None) -> list[float]:
    """The ends of the days asked for: those after ``since`` up to ``until`` (default:
    now); without ``since`` the last two, as Graph answers by default."""
    last = datetime.fromtimestamp(until if until is not None else now, UTC)
    end = last.replace(hour=_DAY_END_UTC_HOUR, minute=0, second=0, microsecond=0)
    if end.timestamp() > last.timestamp():
        end -= timedelta(days=1)
    if since is None:
        return [(end - timedelta(days=1)).timestamp(), end.timestamp()]
    if until is not None and until - since > MAX_RANGE_DAYS * DAY:
        raise errors.bad_parameter(
            f"There cannot be more than {MAX_RANGE_DAYS} days between since and until"
        )
    ends: list[float] = []
    moment = end.timestamp()
    while moment > since:
        ends.append(moment)
        moment -= DAY
    return sorted(ends)


def page_insights(
    page: FbPage,
    posts: Sequence[FbPost],
    counts: Callable[[FbPost], dict[str, int]],
    now: float,
    params: dict[str, str],
    timestamp: Callable[[str, str | None], float | None],
) -> dict[str, Any]:
    """``counts(post)`` is the post's engagement now; ``timestamp`` parses since/until."""
    names = _metric_names(params.get("metric"))
    if not names:
        raise no_metric()
    if any(name not in PAGE_METRICS or name in RETIRED_PAGE_METRICS for name in names):
        raise errors.invalid_metric()
    period = params.get("period") or ""
    if period and period not in PERIODS:
        raise errors.bad_parameter(f"Invalid period: {period}; one of {', '.join(PERIODS)}")
    periods = [period] if period else list(PERIODS)
    since = timestamp("since", params.get("since"))
    until = timestamp("until", params.get("until"))
    ends = _day_ends(now, since, until)
    if not ends:
        raise errors.bad_parameter("since must be before until")
    cache: dict[str, dict[str, int]] = {}

    def of(post: FbPost) -> dict[str, int]:
        if post.id not in cache:
            cache[post.id] = counts(post)
        return cache[post.id]

    def value(name: str, start: float, end: float) -> int:
        if name == "page_follows":
            return page.followers
        window = [p for p in posts if start < p.created_time <= end]
        views = sum(of(p)["post_media_view"] for p in window)
        if name == "page_media_view":
            return views
        if name == "page_total_media_view_unique":
            return int(views * _UNIQUE_SHARE)
        return sum(of(p)["reactions"] + of(p)["comments"] + of(p)["shares"] for p in window)

    data = []
    for name in names:
        title, description = PAGE_METRICS[name]
        for each in periods:
            span = PERIODS[each]
            data.append(
                {
                    "name": name,
                    "period": each,
                    "values": [
                        {"value": value(name, end - span, end), "end_time": graph_time(end)}
                        for end in ends
                    ],
                    "title": title,
                    "description": description,
                    "id": f"{page.id}/insights/{name}/{each}",
                }
            )
    return {"data": data, "paging": _paging(page.id, ends)}


def _paging(page_id: str, ends: list[float]) -> dict[str, str]:
    # Graph pages insights by time: "previous"/"next" are the ranges before and after.
    first, last = ends[0] - DAY, ends[-1]
    width = last - first
    base = f"https://graph.facebook.com/{page_id}/insights"
    return {
        "previous": f"{base}?since={int(first - width)}&until={int(first)}",
        "next": f"{base}?since={int(last)}&until={int(last + width)}",
    }
