"""X's rules for creating a post, as pure functions: build the request, read the answer.

No I/O here. Both transports carry out the same ``publish_call``: the threaded path
(``XPlatform.publish``, on the adapter's requests session) and the asyncio burst path
(``XAsyncPublisher``, on aiohttp). So a post, a thread part (a reply) and every answer
to them are built, signed and read by this one module, whichever path sends them.

The request is ``POST /2/tweets`` with a JSON body (docs.x.com/x-api/posts/create-post),
signed with the account's OAuth 1.0a user token by Clarion's own signer
(``bot.platforms.oauth1``; a JSON body is not part of the signature, RFC 5849 §3.4.1.3.1).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

from bot.campaigns import text_rules
from bot.platforms import oauth1
from bot.platforms.base import (
    Credentials,
    OutcomeUnknown,
    PermanentError,
    Published,
    TransientError,
    Wanted,
    assign_matches,
)
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.http.routes import X_API_ORIGIN
from bot.platforms.x.errors import classify_x_response

CREATE_URL = f"{X_API_ORIGIN}/2/tweets"
PUBLISH_ACTION = "X publish"
TIMELINE_ACTION = "X timeline lookup"

_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def compose_text(text: str, link: str | None) -> str:
    """The exact text sent to X: ``link`` on its own line unless the text already holds it.

    The same rule the queue used to check the length (``text_rules.x_text``), so what was
    checked is what is sent.
    """
    return text_rules.x_text(text, link)


def normalise_for_match(text: str) -> str:
    """The form two post texts are compared in when reconciling.

    X rewrites every URL to a t.co link in the returned ``text`` (docs.x.com: "All URLs
    are wrapped with t.co"), HTML-escapes &, < and > in it, and stores text NFC-normalised
    (twitter-text). So URLs become one placeholder, entities are unescaped, and both sides
    are NFC-normalised and stripped before comparing.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    return _URL.sub("<url>", text).strip()


def post_url(username: str | None, post_id: str) -> str:
    """Where a post is seen on x.com; without the author's username, X's own
    ``i/web/status`` form, which redirects to it."""
    if username:
        return f"https://x.com/{username}/status/{post_id}"
    return f"https://x.com/i/web/status/{post_id}"


def build_post_request(
    consumer_key: str,
    consumer_secret: str,
    creds: Credentials,
    text: str,
    *,
    reply_to: str | None = None,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> HttpRequest:
    """``POST /2/tweets`` for ``text`` exactly as given, as a reply to ``reply_to`` (the
    previous part of a thread) when set. ``nonce``/``timestamp`` pin the signature (tests)."""
    payload: dict[str, object] = {"text": text}
    if reply_to is not None:
        payload["reply"] = {"in_reply_to_tweet_id": reply_to}
    authorization = oauth1.authorization_header(
        "POST",
        CREATE_URL,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        token=creds.token,
        token_secret=creds.secret,
        nonce=nonce,
        timestamp=timestamp,
    )
    return HttpRequest(
        "POST",
        CREATE_URL,
        {"Authorization": authorization, "Content-Type": "application/json"},
        json.dumps(payload).encode(),
        action=PUBLISH_ACTION,
        idempotent=False,
    )


def read_post_response(response: HttpResponse, *, text: str, username: str | None) -> Published:
    """The post X created, or the classified error (``X_ERROR_TABLE``)."""
    parsed = json_or_none(response.body)
    if not response.ok:
        raise classify_x_response(response.status, parsed, response.headers)
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, dict) or not data.get("id"):
        # A 2xx means X accepted the post; if we cannot read its id we do not know which
        # post it is, so the ledger must look for it rather than send it again.
        raise OutcomeUnknown(
            f"X accepted the post (HTTP {response.status}) but its id was unreadable",
            code=response.status,
        )
    post_id = str(data["id"])
    # ``text`` is what we sent: X's echo has t.co links and HTML entities in place of ours.
    return Published(platform_id=post_id, url=post_url(username, post_id), text=text)


def publish_call(
    consumer_key: str,
    consumer_secret: str,
    creds: Credentials,
    text: str,
    *,
    link: str | None = None,
    reply_to: str | None = None,
    publish_at: datetime | None = None,
    username: str | None = None,
    nonce: str | None = None,
    timestamp: str | None = None,
) -> Call[Published]:
    """One post (or thread part) for the account ``creds``: the request and its reader.

    ``username`` (when known) names the account in the post's URL.
    """
    if publish_at is not None:
        raise PermanentError(
            "X cannot hold a post for later: API v2 has no scheduled posts; "
            "Clarion must send it at the time instead"
        )
    body = compose_text(text, link)
    request = build_post_request(
        consumer_key,
        consumer_secret,
        creds,
        body,
        reply_to=reply_to,
        nonce=nonce,
        timestamp=timestamp,
    )
    return Call(request, partial(read_post_response, text=body, username=username))


@dataclass(frozen=True)
class TimelinePage:
    """One page of an account's posts, newest first, and the token of the next page."""

    posts: tuple[Published, ...]
    next_token: str | None


def timeline_call(
    consumer_key: str,
    consumer_secret: str,
    creds: Credentials,
    since: datetime,
    *,
    pagination_token: str | None = None,
    username: str | None = None,
) -> Call[TimelinePage]:
    """``GET /2/users/:id/tweets`` from ``since``, 100 a page, with the query tweepy's
    ``get_users_tweets`` sends for the threaded path's ``find_recent``
    (docs.x.com/x-api/users/get-posts), signed with the account's user token."""
    query: dict[str, str] = {
        "max_results": "100",
        "start_time": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tweet.fields": "created_at",
    }
    if pagination_token:
        query["pagination_token"] = pagination_token
    url = (
        f"{X_API_ORIGIN}/2/users/{creds.platform_user_id}/tweets?"
        f"{urlencode(query, quote_via=quote, safe='')}"
    )
    authorization = oauth1.authorization_header(
        "GET",
        url,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        token=creds.token,
        token_secret=creds.secret,
    )
    request = HttpRequest(
        "GET", url, {"Authorization": authorization}, None, action=TIMELINE_ACTION, idempotent=True
    )
    return Call(request, partial(read_timeline_page, username=username))


def read_timeline_page(response: HttpResponse, *, username: str | None) -> TimelinePage:
    """The posts of one timeline page, or the classified error (``X_ERROR_TABLE``)."""
    parsed = json_or_none(response.body)
    if not response.ok:
        raise classify_x_response(response.status, parsed, response.headers)
    if not isinstance(parsed, dict):
        raise TransientError(f"{TIMELINE_ACTION}: unreadable answer")
    posts = []
    for item in parsed.get("data") or []:
        if not isinstance(item, dict) or "id" not in item:
            continue
        post_id = str(item["id"])
        posts.append(
            Published(
                platform_id=post_id,
                url=post_url(username, post_id),
                text=str(item.get("text", "")),
                created_at=parse_time(item.get("created_at")),
            )
        )
    meta = parsed.get("meta")
    token = meta.get("next_token") if isinstance(meta, dict) else None
    return TimelinePage(tuple(posts), str(token) if token else None)


def match_timeline(wanted: Sequence[Wanted], posts: Sequence[Published]) -> list[Published | None]:
    """Which of ``posts`` is each wanted post: exactly the text ``publish`` sent for its
    (text, link), compared in ``normalise_for_match`` form."""
    forms = [(normalise_for_match(compose_text(w.text, w.link)), w.since) for w in wanted]
    return assign_matches(forms, ((normalise_for_match(p.text), p) for p in posts))


def parse_time(value: Any) -> datetime | None:
    """X's ``created_at`` (ISO 8601 with a ``Z``), or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
