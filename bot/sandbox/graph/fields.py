"""Render Graph nodes (posts, Pages, people) for a ``fields=`` request, and post insights.

Graph's field syntax: comma-separated names, each with optional modifiers, e.g.
``shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)``
(https://developers.facebook.com/docs/graph-api/guides/field-expansion). Without
``fields`` a node returns its defaults (a post: id, message, created_time; a Page or a
person: id, name). An unknown field is a code-100 error naming the node type.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.model import FbPage, FbPost, FbUser, graph_time

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODIFIER = re.compile(r"\.([A-Za-z_]+)\(([^()]*)\)")


@functools.lru_cache(maxsize=512)
def parse_fields(raw: str | None) -> dict[str, dict[str, str]]:
    """``"a,b.summary(true).limit(0)"`` -> ``{"a": {}, "b": {"summary": "true", "limit": "0"}}``.

    Nested ``{...}`` sub-field lists are accepted and ignored (no node here has any).
    Cached (a feed renders every post with the same ``fields``): callers must not mutate
    the result.
    """
    out: dict[str, dict[str, str]] = {}
    if not raw:
        return out
    depth = 0
    part = ""
    parts = []
    for ch in raw:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += ch
    parts.append(part)
    for item in (p.strip() for p in parts):
        if not item:
            continue
        match = _NAME.match(item)
        if match is None:
            raise errors.bad_parameter(f'Syntax error "Expected name." at character 0: {item}')
        rest = re.sub(r"\{.*\}$", "", item[match.end() :])
        out[match.group(0)] = dict(_MODIFIER.findall(rest))
    return out


def _pick(
    node_type: str,
    requested: dict[str, dict[str, str]],
    defaults: tuple[str, ...],
    getters: dict[str, Callable[[dict[str, str]], Any]],
) -> dict[str, Any]:
    names = requested or {name: {} for name in defaults}
    out: dict[str, Any] = {}
    for name, modifiers in names.items():
        getter = getters.get(name)
        if getter is None:
            raise errors.nonexisting_field(name, node_type)
        value = getter(modifiers)
        if value is not None:  # Graph leaves out fields that have no value (e.g. shares at 0)
            out[name] = value
    out.setdefault("id", getters["id"]({}))
    return out


def _edge_summary(total: int, modifiers: dict[str, str], summary: dict[str, Any]) -> dict[str, Any]:
    # The sandbox has no individual reactors/commenters, so ``data`` is always empty;
    # the counts live in ``summary`` as Graph reports them.
    edge: dict[str, Any] = {"data": []}
    if "summary" in modifiers and modifiers["summary"].lower() not in ("false", "0"):
        edge["summary"] = {"total_count": total, **summary}
    return edge


InsightsReader = Callable[[str | None, dict[str, int]], dict[str, Any]]


def render_post(
    post: FbPost,
    page: FbPage | None,
    engagement: Callable[[], dict[str, int]],
    now: float,
    raw: str | None,
    read_insights: InsightsReader | None = None,
) -> dict[str, Any]:
    """``engagement`` is called only if an engagement field is asked for (it costs hashing).

    ``read_insights(metric, counts)`` answers the ``insights.metric(...)`` field expansion
    (it checks the token may read the Page's insights); without it the post has no
    ``insights`` field.
    """
    published = post.is_published(now)
    cache: dict[str, dict[str, int]] = {}

    def counts() -> dict[str, int]:
        if "c" not in cache:
            cache["c"] = engagement()
        return cache["c"]

    getters: dict[str, Callable[[dict[str, str]], Any]] = {
        "id": lambda m: post.id,
        "message": lambda m: post.message or None,
        "created_time": lambda m: graph_time(post.created_time),
        "updated_time": lambda m: graph_time(post.created_time),
        "permalink_url": lambda m: post.permalink,
        "link": lambda m: post.link,
        "is_published": lambda m: published,
        "scheduled_publish_time": lambda m: (
            int(post.created_time) if post.scheduled and not published else None
        ),
        "status_type": lambda m: "shared_story" if post.link else "mobile_status_update",
        "from": lambda m: {"name": page.name, "id": page.id} if page else None,
        "shares": lambda m: {"count": counts()["shares"]} if counts()["shares"] else None,
        "reactions": lambda m: _edge_summary(counts()["reactions"], m, {"viewer_reaction": "NONE"}),
        "comments": lambda m: _edge_summary(
            counts()["comments"], m, {"order": "ranked", "can_comment": True}
        ),
    }
    if read_insights is not None:
        # Field expansion of the insights edge: the same {"data": [...]} as
        # GET /{post-id}/insights (https://developers.facebook.com/docs/graph-api/guides/
        # field-expansion); the field form needs .metric(...).
        def insights_field(m: dict[str, str]) -> Any:
            if not m.get("metric"):
                raise errors.metric_required("insights")
            return read_insights(m["metric"], counts())

        getters["insights"] = insights_field
    return _pick("PagePost", parse_fields(raw), ("created_time", "message", "id"), getters)


def render_page(page: FbPage, raw: str | None, page_token: str | None = None) -> dict[str, Any]:
    getters: dict[str, Callable[[dict[str, str]], Any]] = {
        "id": lambda m: page.id,
        "name": lambda m: page.name,
        "followers_count": lambda m: page.followers,
        "fan_count": lambda m: page.followers,
        "category": lambda m: page.category,
        "link": lambda m: f"https://www.facebook.com/{page.id}",
        "access_token": lambda m: page_token,
    }
    return _pick("Page", parse_fields(raw), ("name", "id"), getters)


def render_user(user: FbUser, raw: str | None) -> dict[str, Any]:
    first, _, last = user.name.partition(" ")
    getters: dict[str, Callable[[dict[str, str]], Any]] = {
        "id": lambda m: user.id,
        "name": lambda m: user.name,
        "first_name": lambda m: first,
        "last_name": lambda m: last or None,
    }
    return _pick("User", parse_fields(raw), ("name", "id"), getters)


# --- post insights -------------------------------------------------------------------
# post_impressions* and post_engaged_users were retired (post_media_view replaced
# post_impressions in Nov 2025). Since those deprecations "the API will return an invalid
# metric error when calling any of these metrics" (Pages API changelog): asking for a
# retired metric, or one the sandbox has never heard of, fails the whole request with
# the code-100 invalid-metric error, alone or in a list. Operators can retire more
# metrics at run time (graph_admin: POST /insights) to rehearse the next deprecation.
DEPRECATED_POST_METRICS = frozenset(
    {
        "post_impressions",
        "post_impressions_unique",
        "post_impressions_paid",
        "post_impressions_organic",
        "post_impressions_fan",
        "post_impressions_viral",
        "post_engaged_users",
        "post_engaged_fan",
        "post_negative_feedback",
        "post_video_views",
    }
)
POST_METRICS = {
    "post_media_view": (
        "Lifetime Post Media Views",
        "The number of times your post was on screen.",
    ),
    "post_reactions_by_type_total": (
        "Lifetime Total post Reactions by Type.",
        "Total post reactions by type.",
    ),
}


def insights(
    post: FbPost,
    counts: dict[str, int],
    metric_param: str | None,
    retired: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """``metric_param``: ``a,b`` or ``["a","b"]``; None or empty means every live metric."""
    if metric_param:
        names = [m.strip() for m in metric_param.strip("[]").replace('"', "").split(",")]
        names = list(dict.fromkeys(m for m in names if m))
    else:
        names = [m for m in POST_METRICS if m not in retired]
    gone = DEPRECATED_POST_METRICS | retired
    if not names or any(m not in POST_METRICS or m in gone for m in names):
        raise errors.invalid_metric()
    wanted = names
    data = []
    for name in wanted:
        if name == "post_media_view":
            value: Any = counts["post_media_view"]
        else:
            # Split the reaction total the way real Pages skew: mostly likes.
            total = counts["reactions"]
            love = total // 5
            value = {"like": total - love, "love": love} if total else {}
        title, description = POST_METRICS[name]
        data.append(
            {
                "name": name,
                "period": "lifetime",
                "values": [{"value": value}],
                "title": title,
                "description": description,
                "id": f"{post.id}/insights/{name}/lifetime",
            }
        )
    return {"data": data}
