"""GET /_sandbox/: every account's timeline, for volunteers watching a rehearsal.

Each post shows its engagement as the platform would report it now, and a Facebook post
the link attached to it; ``?account=platform:id`` shows one account. Every time on the
page is in one format (UTC, to the second), whichever platform's clock format it came in.

Refreshes itself with <meta http-equiv="refresh">, so it works without JavaScript and on
a phone. Post text is user input: Jinja2 autoescape keeps it inert.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.sandbox.templating import templates

REFRESH_S = 3
MAX_POSTS_PER_ACCOUNT = 50
# What each platform's numbers are called on the page, in this order (the keys are the
# platforms' own: X public_metrics, the Graph API's post fields and insights, Bluesky's
# AppView post view, Mastodon's Status counts).
METRIC_NAMES = {
    "x": {
        "impression_count": ("view", "views"),
        "like_count": ("like", "likes"),
        "retweet_count": ("repost", "reposts"),
        "reply_count": ("reply", "replies"),
        "quote_count": ("quote", "quotes"),
        "bookmark_count": ("bookmark", "bookmarks"),
    },
    "facebook": {
        "post_media_view": ("view", "views"),
        "reactions": ("reaction", "reactions"),
        "comments": ("comment", "comments"),
        "shares": ("share", "shares"),
    },
    "bluesky": {
        "likeCount": ("like", "likes"),
        "repostCount": ("repost", "reposts"),
        "replyCount": ("reply", "replies"),
        "quoteCount": ("quote", "quotes"),
    },
    "mastodon": {
        "favourites_count": ("favourite", "favourites"),
        "reblogs_count": ("boost", "boosts"),
        "replies_count": ("reply", "replies"),
    },
}


def counted(count: int, one: str, many: str) -> str:
    """ "1 post", "2 posts": the page's counts in the right number."""
    return f"{count} {one if count == 1 else many}"


def iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def shown_time(value: str | float) -> str:
    """One format for every time on the page: "2026-12-06 14:03:07 UTC". X's times come
    as ...Z with milliseconds, the Graph API's as +00:00 with microseconds."""
    if isinstance(value, int | float):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def shown_metrics(platform: str, metrics: dict[str, int] | None) -> list[tuple[str, int]]:
    names, values = METRIC_NAMES.get(platform, {}), metrics or {}
    return [
        (one if values[key] == 1 else many, values[key])
        for key, (one, many) in names.items()
        if key in values
    ]


def account_key(account: dict[str, Any]) -> str:
    return f"{account['platform']}:{account['id']}"


def _view(account: dict[str, Any]) -> dict[str, Any]:
    posts = [
        {
            **post,
            "when": shown_time(post["created_at"]),
            "engagement": shown_metrics(account["platform"], post.get("metrics")),
        }
        for post in account["posts"][:MAX_POSTS_PER_ACCOUNT]
    ]
    return {
        **account,
        "key": account_key(account),
        "shown_posts": posts,
        "posts_counted": counted(len(account["posts"]), "post", "posts"),
    }


async def timeline_page(request: Request) -> Response:
    state = request.app.state.sandbox
    accounts = state.timeline()
    chosen = request.query_params.get("account", "")
    shown = [a for a in accounts if not chosen or account_key(a) == chosen]
    return templates.TemplateResponse(
        request,
        "timeline.html",
        {
            "accounts": [_view(a) for a in shown],
            "choices": [(account_key(a), a["platform"], a["name"]) for a in accounts],
            "accounts_counted": counted(len(accounts), "account", "accounts"),
            "chosen": chosen,
            "unknown": bool(chosen) and not shown,
            "now": shown_time(state.clock.time()),
            "acceleration": state.clock.acceleration,
            "refresh_s": REFRESH_S,
            "max_posts": MAX_POSTS_PER_ACCOUNT,
        },
    )
