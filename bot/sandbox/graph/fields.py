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
from urllib.parse import quote, urlsplit

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.model import FbPage, FbPost, FbUser, graph_time

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODIFIER = re.compile(r"\.([A-Za-z_]+)\(([^()]*)\)")
# "@[page-id]" in a post's message tags that Page: Graph shows its name in the message
# and lists it in ``message_tags`` (offset and length in the shown message).
_MENTION = re.compile(r"@\[([0-9]+)\]")
# Reaction types a ``reactions.type(...)`` modifier takes
# (https://developers.facebook.com/docs/graph-api/reference/object/reactions).
REACTION_TYPES = (
    "NONE",
    "LIKE",
    "LOVE",
    "WOW",
    "HAHA",
    "SAD",
    "ANGRY",
    "THANKFUL",
    "PRIDE",
    "CARE",
)
# Link previews are Facebook's copies of the linked page's image; the sandbox has none,
# so it names images on a host that never resolves.
PREVIEW_HOST = "https://external.fbcdn.sandbox.invalid"


Field = tuple[str, dict[str, str]]  # (field name, modifiers), e.g. ("likes", {"summary": "true"})


@functools.lru_cache(maxsize=512)
def parse_fields(raw: str | None) -> dict[str, Field]:
    """``"a,b.summary(true).limit(0).as(c)"`` ->
    ``{"a": ("a", {}), "c": ("b", {"summary": "true", "limit": "0"})}``: keyed by the name
    the answer uses, which ``.as(name)`` sets (field aliases,
    https://developers.facebook.com/docs/graph-api/aliasing-fields), so one field may be
    asked for twice under two names (``reactions.type(LIKE).as(like),reactions.type(LOVE)
    .as(love)``).

    Nested ``{...}`` sub-field lists are accepted and ignored (no node here has any).
    Cached (a feed renders every post with the same ``fields``): callers must not mutate
    the result.
    """
    out: dict[str, Field] = {}
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
        modifiers = dict(_MODIFIER.findall(rest))
        alias = modifiers.pop("as", "")
        if alias and not _NAME.fullmatch(alias):
            raise errors.bad_parameter(f"Invalid alias name: {alias}")
        out[alias or match.group(0)] = (match.group(0), modifiers)
    return out


def _pick(
    node_type: str,
    requested: dict[str, Field],
    defaults: tuple[str, ...],
    getters: dict[str, Callable[[dict[str, str]], Any]],
) -> dict[str, Any]:
    names = requested or {name: (name, {}) for name in defaults}
    out: dict[str, Any] = {}
    for key, (name, modifiers) in names.items():
        getter = getters.get(name)
        if getter is None:
            raise errors.nonexisting_field(name, node_type)
        value = getter(modifiers)
        if value is not None:  # Graph leaves out fields that have no value (e.g. shares at 0)
            out[key] = value
    out.setdefault("id", getters["id"]({}))
    return out


def _edge_summary(total: int, modifiers: dict[str, str], summary: dict[str, Any]) -> dict[str, Any]:
    # The sandbox has no individual reactors/commenters, so ``data`` is always empty;
    # the counts live in ``summary`` as Graph reports them.
    edge: dict[str, Any] = {"data": []}
    if "summary" in modifiers and modifiers["summary"].lower() not in ("false", "0"):
        edge["summary"] = {"total_count": total, **summary}
    return edge


def reactions_by_type(total: int) -> dict[str, int]:
    """A post's reactions by type: mostly likes, as real Pages skew; the rest loves."""
    love = total // 5
    return {"LIKE": total - love, "LOVE": love}


def _reactions(total: int, modifiers: dict[str, str]) -> dict[str, Any]:
    kind = modifiers.get("type", "").upper()
    if kind and kind not in REACTION_TYPES:
        raise errors.bad_parameter(f"Param type must be one of {{{', '.join(REACTION_TYPES)}}}")
    count = reactions_by_type(total).get(kind, 0) if kind else total
    return _edge_summary(count, modifiers, {"viewer_reaction": "NONE"})


def _shown_message(message: str, pages: PageLookup | None) -> tuple[str, list[dict[str, Any]]]:
    """The message as Graph shows it (tagged Pages by name) and its ``message_tags``."""
    if pages is None or "@[" not in message:
        return message, []
    shown = ""
    tags: list[dict[str, Any]] = []
    last = 0
    for match in _MENTION.finditer(message):
        page = pages(match.group(1))
        if page is None:
            continue
        shown += message[last : match.start()]
        tags.append(
            {
                "id": page.id,
                "name": page.name,
                "type": "page",
                "offset": len(shown),
                "length": len(page.name),
            }
        )
        shown += page.name
        last = match.end()
    return shown + message[last:], tags


def _preview(link: str, width: int, height: int) -> str:
    return f"{PREVIEW_HOST}/emg1/safe_image.php?w={width}&h={height}&url={quote(link, safe='')}"


def _attachments(link: str | None) -> dict[str, Any] | None:
    """A link post's one attachment, a "share" (the preview card Facebook builds)."""
    if not link:
        return None
    shim = f"https://l.facebook.com/l.php?u={quote(link, safe='')}"
    return {
        "data": [
            {
                "media": {
                    "image": {"height": 630, "src": _preview(link, 1200, 630), "width": 1200}
                },
                "target": {"url": shim},
                "title": urlsplit(link).hostname or link,
                "type": "share",
                "url": shim,
                "unshimmed_url": link,
            }
        ]
    }


InsightsReader = Callable[[str | None, dict[str, int]], dict[str, Any]]
PageLookup = Callable[[str], FbPage | None]


def render_post(
    post: FbPost,
    page: FbPage | None,
    engagement: Callable[[], dict[str, int]],
    now: float,
    raw: str | None,
    read_insights: InsightsReader | None = None,
    pages: PageLookup | None = None,
) -> dict[str, Any]:
    """``engagement`` is called only if an engagement field is asked for (it costs hashing).

    ``read_insights(metric, counts)`` answers the ``insights.metric(...)`` field expansion
    (it checks the token may read the Page's insights); without it the post has no
    ``insights`` field. ``pages`` finds the Pages a message tags (``@[page-id]``).
    """
    published = post.is_published(now)
    message, tags = _shown_message(post.message, pages)
    cache: dict[str, dict[str, int]] = {}

    def counts() -> dict[str, int]:
        if "c" not in cache:
            cache["c"] = engagement()
        return cache["c"]

    getters: dict[str, Callable[[dict[str, str]], Any]] = {
        "id": lambda m: post.id,
        "message": lambda m: message or None,
        "message_tags": lambda m: tags or None,
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
        "reactions": lambda m: _reactions(counts()["reactions"], m),
        # The older likes edge: the LIKE reactions.
        "likes": lambda m: _edge_summary(
            reactions_by_type(counts()["reactions"])["LIKE"],
            m,
            {"can_like": True, "has_liked": False},
        ),
        "attachments": lambda m: _attachments(post.link),
        # Link posts show the preview's image; the sandbox has no photo posts.
        "full_picture": lambda m: _preview(post.link, 720, 720) if post.link else None,
        "picture": lambda m: _preview(post.link, 130, 130) if post.link else None,
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
            total = counts["reactions"]
            value = (
                {kind.lower(): n for kind, n in reactions_by_type(total).items()} if total else {}
            )
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
