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
from datetime import datetime
from functools import partial
from urllib.parse import urlencode

from bot.platforms.base import AuthError, OutcomeUnknown, PermanentError, Published
from bot.platforms.facebook.errors import classify_graph_response
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.http.routes import GRAPH_ORIGIN

DEFAULT_GRAPH_VERSION = "v25.0"
PUBLISH_ACTION = "Facebook POST feed"


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
