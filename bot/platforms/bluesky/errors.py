"""Bluesky's answers, classified once.

XRPC errors come as an HTTP status and a JSON body ``{"error": "<Name>", "message": ...}``
(https://atproto.com/specs/xrpc#error-responses). The first row whose status and error
name match wins; an answer no row knows is transient and may have created the post.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bot.platforms.base import AuthError, PermanentError, PlatformError, TransientError

# A 429 without ratelimit-reset waits five minutes, the shortest window Bluesky documents
# (https://docs.bsky.app/docs/advanced-guides/rate-limits).
DEFAULT_RATE_LIMIT_WAIT = 300.0


@dataclass(frozen=True)
class BlueskyErrorRule:
    """One row of the table: status range, XRPC error name (None: any), the class."""

    status: range
    error_name: str | None
    error: type[PlatformError]
    label: str
    message_contains: str | None = None
    rate_limited: bool = False
    maybe_sent: bool = False
    duplicate: bool = False


def _s(status: int) -> range:
    return range(status, status + 1)


BLUESKY_ERROR_TABLE: tuple[BlueskyErrorRule, ...] = (
    # 429 RateLimitExceeded: wait until the RateLimit-Reset header (epoch seconds)
    # (https://docs.bsky.app/docs/advanced-guides/rate-limits: "ratelimit-limit,
    # ratelimit-remaining, ratelimit-reset, ratelimit-policy").
    BlueskyErrorRule(_s(429), None, TransientError, "rate limited by Bluesky", rate_limited=True),
    # ExpiredToken / InvalidToken (400 or 401): the access token is past its time or was
    # revoked, and refreshing before use did not help (the refresh token is gone too):
    # the account must be connected again (https://atproto.com/specs/xrpc#authentication).
    BlueskyErrorRule(range(400, 402), "ExpiredToken", AuthError, "the Bluesky session has expired"),
    BlueskyErrorRule(
        range(400, 402), "InvalidToken", AuthError, "Bluesky rejected the session token"
    ),
    # 401 use_dpop_nonce: an OAuth (DPoP) request without the nonce the server wants now;
    # its answer carries the new ``DPoP-Nonce``, which the OAuth module keeps
    # (``rules.AuthorizeRequest.observe``), and the request is refused before anything is
    # written (RFC 9449 §8; https://atproto.com/specs/oauth#dpop). The transports resend
    # it once with that nonce (``BlueskyPlatform.signed_call``); a challenge reaching this
    # table is the second in a row: try again later, not reconnect.
    BlueskyErrorRule(
        _s(401), "use_dpop_nonce", TransientError, "the server asked for a fresh DPoP nonce"
    ),
    # 401 AuthenticationRequired / AuthMissing / DPoP problems: no usable credentials.
    BlueskyErrorRule(_s(401), None, AuthError, "Bluesky refused the account's credentials"),
    # AccountTakedown / AccountDeactivated: the account cannot post until a person acts.
    BlueskyErrorRule(
        range(400, 404), "AccountTakedown", AuthError, "the Bluesky account was taken down"
    ),
    BlueskyErrorRule(
        range(400, 404), "AccountDeactivated", AuthError, "the Bluesky account is deactivated"
    ),
    # 403: the token lacks the permission (an OAuth grant without the scope).
    BlueskyErrorRule(_s(403), None, AuthError, "the Bluesky token lacks permission"),
    # InvalidSwap: "the record already exists" under the key we chose
    # (com.atproto.repo.putRecord/createRecord lexicons). After an attempt whose answer
    # was lost, that is our own post: the ledger reads that record before anything else.
    BlueskyErrorRule(
        _s(400), "InvalidSwap", PermanentError, "a record already exists", duplicate=True
    ),
    BlueskyErrorRule(
        _s(400),
        None,
        PermanentError,
        "a record already exists",
        message_contains="already exists",
        duplicate=True,
    ),
    # 404/400 RecordNotFound: e.g. the post a thread part replies to was deleted.
    BlueskyErrorRule(range(400, 405), "RecordNotFound", PermanentError, "record not found"),
    # 400 InvalidRequest (lexicon validation: too long, bad facet, bad record key) and any
    # other 400: the same request can never succeed.
    BlueskyErrorRule(_s(400), None, PermanentError, "Bluesky rejected the post as invalid"),
    # 413 PayloadTooLarge.
    BlueskyErrorRule(_s(413), None, PermanentError, "the post is too large for Bluesky"),
    # 5xx (InternalServerError, UpstreamFailure, NotEnoughResources): the create may
    # have happened: look (read our record key) before sending again.
    BlueskyErrorRule(
        range(500, 600), None, TransientError, "Bluesky server error", maybe_sent=True
    ),
)


def _parts(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("error") or ""), str(body.get("message") or "")


def retry_after(headers: Any, now: float) -> float:
    """Seconds until ``ratelimit-reset`` (epoch seconds), at least one."""
    raw = headers.get("ratelimit-reset") if headers is not None else None
    try:
        reset = float(str(raw))
    except (TypeError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT
    return max(reset - now, 1.0)


def classify_bluesky_response(
    status: int, body: Any, headers: Any = None, *, now: float | None = None
) -> PlatformError:
    """Turn one XRPC error answer into the error class the ledger acts on."""
    name, detail = _parts(body)
    for rule in BLUESKY_ERROR_TABLE:
        if status not in rule.status:
            continue
        if rule.error_name is not None and rule.error_name != name:
            continue
        if rule.message_contains and rule.message_contains not in detail.lower():
            continue
        said = ": ".join(p for p in (name, detail) if p)
        message = f"{rule.label} (HTTP {status}{': ' + said if said else ''})"[:500]
        code = name or status
        if rule.error is TransientError:
            if rule.rate_limited:
                wait = retry_after(headers, time.time() if now is None else now)
                return TransientError(message, code=code, retry_after=wait, rate_limited=True)
            return TransientError(message, code=code, maybe_sent=rule.maybe_sent)
        if rule.error is PermanentError:
            return PermanentError(message, code=code, duplicate=rule.duplicate)
        return rule.error(message, code=code)
    said = f": {name or detail}" if (name or detail) else ""
    return TransientError(
        f"unexpected answer from Bluesky (HTTP {status}{said})"[:500], code=status, maybe_sent=True
    )
