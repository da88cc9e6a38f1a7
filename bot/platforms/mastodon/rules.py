"""Mastodon's rules for creating a status, as pure functions: build the request, read the
answer, count a text's length the way the instance does.

No I/O here. Both transports carry out the same ``publish_call``: the threaded path
(``MastodonPlatform.publish``, on the adapter's requests session) and the asyncio burst
path (``MastodonAsyncPublisher``, on aiohttp). The request is the one Mastodon.py's
``status_post`` makes: ``POST {instance}/api/v1/statuses`` with the user's Bearer token
(https://docs.joinmastodon.org/methods/statuses/#create), sent as JSON.

Every attempt at one part of one delivery carries the same ``Idempotency-Key``: Mastodon
remembers it for an hour per account and answers a repeat with the status already made
(the docs: "Prevent duplicate submissions of the same status"), so a retry after a lost
answer cannot post twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import partial
from urllib.parse import urlsplit

from bot.campaigns import text_rules
from bot.platforms.base import (
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    Published,
)
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.mastodon.errors import classify_mastodon_response

PUBLISH_ACTION = "Mastodon POST statuses"
# Mastodon's default limit; an instance may set its own (configuration.statuses.
# max_characters in GET /api/v2/instance, https://docs.joinmastodon.org/entities/Instance/).
DEFAULT_MAX_CHARACTERS = text_rules.MASTODON_DEFAULT_MAX
URL_CHARACTERS = text_rules.MASTODON_URL_WEIGHT


def instance_url(value: str) -> str:
    """``social.example``, ``https://Social.Example/`` or ``@me@social.example`` ->
    ``https://social.example``; a clear error for anything that is not a server name."""
    raw = value.strip()
    if raw.startswith("@") and raw.count("@") == 2:
        raw = raw.rsplit("@", 1)[1]
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or "." not in host.strip("."):
        raise ValueError(f"{value!r} is not a Mastodon server: give its name, like mastodon.social")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def instance_of(handle: str) -> str:
    """A Mastodon account's instance host from its ``user@host`` handle."""
    return handle.rsplit("@", 1)[-1].strip().lower() if "@" in handle else ""


def status_length(text: str) -> int:
    """The length the instance counts: graphemes, every URL as 23, ``@user@domain`` as
    ``@user``. Mastodon.py's ``get_status_length`` follows the server's
    StatusLengthValidator (https://docs.joinmastodon.org/user/posting/#text)."""
    from mastodon import Mastodon  # lazily: importing bot.platforms stays cheap

    length: int = Mastodon.get_status_length(text)
    return length


def status_text(text: str, link: str | None) -> str:
    """The text as it goes out: ``link`` on its own line unless already in it (Mastodon
    has no link field; it turns a URL in the text into a link and a preview card)."""
    return text_rules.mastodon_text(text, link)


def build_post_request(
    server: str,
    token: str,
    text: str,
    *,
    reply_to: str | None = None,
    idempotency_key: str | None = None,
) -> HttpRequest:
    """``POST {server}/api/v1/statuses``; ``reply_to`` makes it the next part of a thread
    (``in_reply_to_id``)."""
    body: dict[str, str] = {"status": text}
    if reply_to is not None:
        body["in_reply_to_id"] = reply_to
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
    }
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    return HttpRequest(
        "POST",
        f"{instance_url(server)}/api/v1/statuses",
        headers,
        json.dumps(body, ensure_ascii=False).encode(),
        action=PUBLISH_ACTION,
        idempotent=False,
    )


def published_from(status: dict[str, object], text: str) -> Published | None:
    """A Status entity as ``Published``, or None without an id."""
    status_id = status.get("id")
    if not status_id:
        return None
    url = status.get("url") or status.get("uri") or ""
    return Published(platform_id=str(status_id), url=str(url), text=text, created_at=_time(status))


def read_post_response(response: HttpResponse, *, text: str, token: str) -> Published:
    """The status the instance created, or the classified error (``MASTODON_ERROR_TABLE``)."""
    body = json_or_none(response.body)
    if response.ok:
        published = published_from(body, text) if isinstance(body, dict) else None
        if published is None:
            # Accepted but unreadable: a status may exist; reconcile before resending.
            raise OutcomeUnknown(
                f"{PUBLISH_ACTION}: accepted (HTTP {response.status}) but no status id came back"
            )
        return published
    raise classify_mastodon_response(response.status, body, response.headers, secrets=(token,))


def publish_call(
    creds: Credentials,
    text: str,
    *,
    link: str | None = None,
    reply_to: str | None = None,
    publish_at: datetime | None = None,
    idempotency_key: str | None = None,
) -> Call[Published]:
    """One status: the request and its reader."""
    if publish_at is not None:
        raise PermanentError(
            "Clarion posts to Mastodon at the time itself; it does not ask the instance "
            "to hold posts"
        )
    if not creds.token:
        raise AuthError("no Mastodon access token for this account")
    if not creds.server:
        raise AuthError("this Mastodon account has no server: connect it again")
    sent = status_text(text, link)
    request = build_post_request(
        creds.server, creds.token, sent, reply_to=reply_to, idempotency_key=idempotency_key
    )
    return Call(request, partial(read_post_response, text=sent, token=creds.token))


def _time(status: dict[str, object]) -> datetime | None:
    value = status.get("created_at")
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
