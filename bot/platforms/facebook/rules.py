"""Facebook's rules for creating a Page post, as pure functions: build the request, read
the answer.

No I/O here. Both transports carry out the same ``publish_call``: the threaded path
(``FacebookPlatform.publish``, on the adapter's requests session) and the asyncio burst
path (``FacebookAsyncPublisher``, on aiohttp). So a post, a post Facebook holds for later,
and every answer to them are built and read by this one module, whichever path sends them.

The request is the one facebook-sdk's ``GraphAPI.put_object(page, "feed", ...)`` makes:
``POST https://graph.facebook.com/{version}/{page-id}/feed`` with form fields and the
Page token in the body (https://developers.facebook.com/docs/pages-api/posts).
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode

from bot.platforms.base import (
    AuthError,
    OutcomeUnknown,
    PermanentError,
    Published,
    TransientError,
    Wanted,
    assign_matches,
)
from bot.platforms.facebook.errors import classify_graph_response
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.http.routes import GRAPH_ORIGIN

DEFAULT_GRAPH_VERSION = "v25.0"
PUBLISH_ACTION = "Facebook POST feed"
FEED_ACTION = "Facebook feed read"


def graph_version(value: str) -> str:
    """``25.0`` or ``v25.0`` -> ``v25.0``."""
    value = value.strip()
    return value if value.startswith("v") else f"v{value}"


def post_url(post_id: str) -> str:
    return f"https://www.facebook.com/{post_id}"


def appsecret_proof(token: str, app_secret: str) -> str:
    """HMAC-SHA256 of the access token keyed by the app secret, hex: the proof Graph
    checks whenever a call carries one, and requires when the app's "Require App Secret"
    setting is on (https://developers.facebook.com/docs/graph-api/securing-requests)."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def build_post_request(
    version: str,
    page_id: str,
    token: str,
    text: str,
    *,
    link: str | None = None,
    publish_at: datetime | None = None,
    app_secret: str | None = None,
) -> HttpRequest:
    """``POST /{version}/{page-id}/feed``; with ``publish_at``, a post Facebook holds and
    publishes itself (``published=false`` + ``scheduled_publish_time`` in Unix seconds)."""
    fields: dict[str, str] = {"message": text}
    if link:
        fields["link"] = link
    if publish_at is not None:
        if publish_at.tzinfo is None:
            raise ValueError("publish_at must be timezone-aware")
        fields["published"] = "false"
        fields["scheduled_publish_time"] = str(int(publish_at.timestamp()))
    # In a POST the token goes in the body, as facebook-sdk sends it, never in the URL.
    fields["access_token"] = token
    if app_secret:
        fields["appsecret_proof"] = appsecret_proof(token, app_secret)
    return HttpRequest(
        "POST",
        f"{GRAPH_ORIGIN}/{version}/{page_id}/feed",
        {"Content-Type": "application/x-www-form-urlencoded"},
        urlencode(fields).encode(),
        action=PUBLISH_ACTION,
        idempotent=False,
    )


def read_post_response(response: HttpResponse, *, text: str, token: str) -> Published:
    """The post Graph created, or the classified error (``GRAPH_ERROR_TABLE``); ``token``
    is blanked out of Graph's message in case it ever quotes it back."""
    body = json_or_none(response.body)
    if response.ok and isinstance(body, dict) and "error" not in body:
        post_id = body.get("id")
        if not post_id:
            raise OutcomeUnknown("Facebook accepted the post but returned no id")
        return Published(platform_id=str(post_id), url=post_url(str(post_id)), text=text)
    if response.ok and not isinstance(body, dict):
        # Accepted but unreadable: a post may exist; reconcile before resending.
        raise OutcomeUnknown(
            f"{PUBLISH_ACTION}: accepted (HTTP {response.status}) but the answer was unreadable"
        )
    raise classify_graph_response(response.status, body, response.headers, secrets=(token,))


def publish_call(
    version: str,
    page_id: str,
    token: str,
    text: str,
    *,
    link: str | None = None,
    reply_to: str | None = None,
    publish_at: datetime | None = None,
    app_secret: str | None = None,
) -> Call[Published]:
    """One Page post: the request and its reader. Facebook has no threads."""
    if reply_to is not None:
        raise PermanentError("Facebook has no threads: join the parts into one post")
    if not token:
        raise AuthError("no Page token for this account")
    request = build_post_request(
        version, page_id, token, text, link=link, publish_at=publish_at, app_secret=app_secret
    )
    return Call(request, partial(read_post_response, text=text, token=token))


@dataclass(frozen=True)
class FeedPage:
    """One page of a Page's feed, newest first, with who wrote each post, and the
    cursor of the next page."""

    posts: tuple[tuple[str | None, Published], ...]  # (author id, post)
    after: str | None


def feed_call(
    version: str,
    page_id: str,
    token: str,
    since: datetime,
    *,
    after: str | None = None,
    app_secret: str | None = None,
) -> Call[FeedPage]:
    """``GET /{version}/{page-id}/feed`` since ``since``, 100 a page, with the fields the
    threaded path's ``find_recent`` asks facebook-sdk for
    (https://developers.facebook.com/docs/graph-api/reference/page/feed). A GET carries the
    Page token in its query, as facebook-sdk sends it."""
    query = {
        "fields": "id,message,created_time,from",
        "limit": "100",
        "since": str(int(since.timestamp())),
    }
    if after:
        query["after"] = after
    query["access_token"] = token
    if app_secret:
        query["appsecret_proof"] = appsecret_proof(token, app_secret)
    request = HttpRequest(
        "GET",
        f"{GRAPH_ORIGIN}/{version}/{page_id}/feed?{urlencode(query)}",
        {},
        None,
        action=FEED_ACTION,
        idempotent=True,
    )
    return Call(request, partial(read_feed_page, token=token))


def read_feed_page(response: HttpResponse, *, token: str) -> FeedPage:
    """The posts of one feed page, or the classified error (``GRAPH_ERROR_TABLE``)."""
    body = json_or_none(response.body)
    if not response.ok or (isinstance(body, dict) and "error" in body):
        raise classify_graph_response(response.status, body, response.headers, secrets=(token,))
    if not isinstance(body, dict):
        raise TransientError(f"{FEED_ACTION}: unreadable answer")
    posts = []
    for item in body.get("data") or []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        author = item.get("from")
        author_id = str(author.get("id")) if isinstance(author, dict) else None
        post = Published(
            platform_id=str(item["id"]),
            url=post_url(str(item["id"])),
            text=str(item.get("message") or ""),
            created_at=parse_time(item.get("created_time")),
        )
        posts.append((author_id, post))
    return FeedPage(tuple(posts), next_cursor(body))


def normalise_message(text: str) -> str:
    """The form two Page post messages are compared in when reconciling."""
    return unicodedata.normalize("NFC", text).strip()


def match_feed(
    page_id: str, wanted: Sequence[Wanted], posts: Sequence[tuple[str | None, Published]]
) -> list[Published | None]:
    """Which of the Page's ``posts`` is each wanted post. The link travels beside the
    message on Facebook, so only the message is compared; the feed also holds visitors'
    posts, and one quoting our text is not ours."""
    forms = [(normalise_message(w.text), w.since) for w in wanted]
    ours = (
        (normalise_message(post.text), post)
        for author, post in posts
        if author is None or author == page_id
    )
    return assign_matches(forms, ours)


def next_cursor(page: Any) -> str | None:
    """The ``after`` cursor of a Graph list, or None on its last page."""
    paging = page.get("paging") if isinstance(page, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


def parse_time(value: Any) -> datetime | None:
    """A Graph time (``2026-03-01T12:00:00+0000``), or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
