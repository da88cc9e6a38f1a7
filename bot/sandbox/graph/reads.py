"""Graph reads of the sandbox beyond single nodes: who may read what, Page feeds with
cursor paging, and ``/me/accounts``. Used by graph_api's dispatcher.
"""

from __future__ import annotations

import base64
import functools
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.fields import InsightsReader, insights, render_post
from bot.sandbox.graph.model import ADMIN_TASKS, FbPost, Token
from bot.sandbox.graph.state import GraphState

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def _runs_page(state: GraphState, page_id: str, token: Token) -> bool:
    """The Page's own token, or a user token of one of its admins."""
    if token.kind == "page" and token.page_id == page_id:
        return True
    page = state.pages.get(page_id)
    return token.kind == "user" and page is not None and token.user_id in page.admins


def require_read(state: GraphState, page_id: str, token: Token) -> None:
    """Reading a Page's post; any other token would need Page Public Content Access,
    which the sandbox's app does not have."""
    if not _runs_page(state, page_id, token):
        raise errors.no_public_content_access()


def require_page_access(state: GraphState, page_id: str, token: Token) -> None:
    """Reading a post's insights."""
    if not _runs_page(state, page_id, token):
        raise errors.GraphError(
            "(#10) Requires pages_read_engagement permission to manage the object", code=10
        )


def insights_reader(state: GraphState, post: FbPost, token: Token) -> InsightsReader:
    def read(metric: str | None, counts: dict[str, int]) -> dict[str, Any]:
        require_page_access(state, post.page_id, token)
        return insights(post, counts, metric, state.retired_metrics)

    return read


def timestamp(name: str, raw: str | None) -> float | None:
    """Unix seconds or ISO 8601 (Graph accepts both for since/until/scheduled times)."""
    if raw is None or raw == "":
        return None
    try:
        return float(int(raw))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise errors.bad_parameter(f"Invalid parameter {name}") from None
    if parsed.tzinfo is None:
        raise errors.bad_parameter(f"Invalid parameter {name}: a time zone is required")
    return parsed.timestamp()


def _cursor(post_id: str) -> str:
    return base64.urlsafe_b64encode(post_id.encode()).decode().rstrip("=")


def _uncursor(raw: str) -> str:
    try:
        return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise errors.bad_parameter("Invalid cursor") from None


def _limit(params: dict[str, str]) -> int:
    raw = params.get("limit")
    if not raw:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise errors.bad_parameter("Param limit must be a number") from None
    return max(1, min(value, MAX_LIMIT))


def list_feed(
    state: GraphState,
    version: str,
    page_id: str,
    edge: str,
    token: Token,
    params: dict[str, str],
) -> Any:
    """A Page's posts newest first, with cursor paging (the ledger reconciles with this)."""
    posts = state.feed(
        page_id,
        since=timestamp("since", params.get("since")),
        until=timestamp("until", params.get("until")),
        scheduled=edge == "scheduled_posts",
    )
    if params.get("after"):
        after = _uncursor(params["after"])
        ids = [p.id for p in posts]
        posts = posts[ids.index(after) + 1 :] if after in ids else []
    limit = _limit(params)
    page_posts, more = posts[:limit], len(posts) > limit
    page = state.pages.get(page_id)
    now = state.now()
    data = [
        render_post(
            p,
            page,
            functools.partial(state.engagement, p),
            now,
            params.get("fields"),
            insights_reader(state, p, token),
            state.pages.get,
        )
        for p in page_posts
    ]
    body: dict[str, Any] = {"data": data}
    if page_posts:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(page_posts[0].id), "after": _cursor(page_posts[-1].id)}
        }
        if more:
            query = {k: v for k, v in params.items() if k in ("fields", "since", "until")}
            query.update(
                access_token=token.value, limit=str(limit), after=_cursor(page_posts[-1].id)
            )
            paging["next"] = (
                f"https://graph.facebook.com/{version}/{page_id}/{edge}?{urlencode(query)}"
            )
        body["paging"] = paging
    return body


def accounts(state: GraphState, token: Token, params: dict[str, str]) -> Any:
    """/me/accounts: the Pages the person runs, each with a Page token."""
    if token.kind != "user" or token.user_id is None:
        raise errors.nonexisting_field("accounts", "Page")
    # Without pages_show_list the app may not see the person's Pages.
    pages = state.pages_of(token.user_id) if "pages_show_list" in token.scopes else []
    data: list[dict[str, Any]] = []
    for page in pages:
        entry: dict[str, Any] = {
            "access_token": state.page_token(token, page.id).value,
            "category": page.category,
            "category_list": [{"id": "2612", "name": page.category}],
            "name": page.name,
            "id": page.id,
            "tasks": list(ADMIN_TASKS),
            "followers_count": page.followers,
            "fan_count": page.followers,
        }
        wanted = params.get("fields")
        # Graph's default fields for /me/accounts; follower counts only when asked for.
        keep = (
            {f.strip().split(".")[0] for f in wanted.split(",")} | {"id"}
            if wanted
            else {"access_token", "category", "category_list", "name", "id", "tasks"}
        )
        entry = {k: v for k, v in entry.items() if k in keep}
        data.append(entry)
    body: dict[str, Any] = {"data": data}
    if data:
        body["paging"] = {
            "cursors": {"before": _cursor(data[0]["id"]), "after": _cursor(data[-1]["id"])}
        }
    return body
