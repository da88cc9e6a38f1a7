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
from datetime import datetime
from functools import partial

from bot.campaigns import text_rules
from bot.platforms import oauth1
from bot.platforms.base import Credentials, OutcomeUnknown, PermanentError, Published
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.http.routes import X_API_ORIGIN
from bot.platforms.x.errors import classify_x_response

CREATE_URL = f"{X_API_ORIGIN}/2/tweets"
PUBLISH_ACTION = "X publish"

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
