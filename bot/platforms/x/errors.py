"""X's answers, classified once: the error table and how failed tweepy calls are read.

Each row cites X's documentation; ``classify_x_response`` is the one place an HTTP answer
from X becomes TransientError, AuthError or PermanentError, whether it came to our own
request (``rules``) or to one tweepy made (``classify_client_failure``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import requests
import tweepy

from bot.platforms.base import (
    AuthError,
    PermanentError,
    PlatformError,
    TransientError,
)
from bot.platforms.http.sync import classify_transport_error

logger = logging.getLogger(__name__)

# A 429 without x-rate-limit-reset (should not happen: docs.x.com/x-api/fundamentals/
# rate-limits says every response carries it) waits one full 15-minute window.
DEFAULT_RATE_LIMIT_WAIT = 900.0


@dataclass(frozen=True)
class XErrorRule:
    """One row of the X error table: the first row that matches a response wins."""

    status: range  # HTTP statuses this row covers
    problem_suffix: str | None  # X problem ``type`` URI must end with this
    detail_contains: str | None  # ... or the detail/message must contain this
    error: type[PlatformError]
    label: str  # what the operator reads first
    rate_limited: bool = False
    maybe_sent: bool = False  # a create may have happened: look before resending
    duplicate: bool = False  # "same text again": after an unknown outcome, ours is there


def _s(status: int) -> range:
    return range(status, status + 1)


# Statuses and problem types: https://docs.x.com/x-api/fundamentals/response-codes-and-errors
# (formerly developer.x.com/en/support/x-api/error-troubleshooting).
X_ERROR_TABLE: tuple[XErrorRule, ...] = (
    # 429 usage-capped: the app's monthly/pay-per-use cap is spent ("429 Too Many Requests:
    # Rate limit or usage cap exceeded"; problem type .../2/problems/usage-capped).
    # Decision: PermanentError, not a long TransientError. The cap belongs to the app and
    # resets with the billing period (days away) or when the operator raises the plan;
    # x-rate-limit-reset says nothing about it. Campaign posts are time-bound, so posting
    # them days late is wrong, and a rate-limited transient error is not counted as an
    # attempt, so every queued post would wait indefinitely. The operator must act.
    XErrorRule(
        _s(429),
        "/2/problems/usage-capped",
        None,
        PermanentError,
        "X API usage cap reached for this app (raise the plan or spend limit)",
    ),
    # 429 rate limit: wait until x-rate-limit-reset (docs.x.com/x-api/fundamentals/rate-limits:
    # "x-rate-limit-reset: the time remaining before the rate limit resets, in epoch seconds").
    XErrorRule(_s(429), None, None, TransientError, "rate limited by X", rate_limited=True),
    # 401: "Invalid or missing authentication credentials" - the user revoked the app or
    # the token is bad: the account needs reconnecting.
    XErrorRule(_s(401), None, None, AuthError, "X rejected the account's token"),
    # 403 oauth1-permissions: the token was issued without write access (app was read-only
    # when the volunteer authorised it); only a new authorisation fixes it.
    XErrorRule(
        _s(403),
        "/2/problems/oauth1-permissions",
        None,
        AuthError,
        "the account's token lacks write permission",
    ),
    # 403 duplicate: "You are not allowed to create a Tweet with duplicate content."
    # (see /work/shared/contracts/README.md); sending it again can never succeed.
    XErrorRule(
        _s(403), None, "duplicate content", PermanentError, "duplicate content", duplicate=True
    ),
    # Other 403: "Valid auth but no permission for this resource or action" (suspended or
    # locked account, reply restricted, ...): keep X's message for the operator.
    XErrorRule(_s(403), None, None, PermanentError, "X refused the post"),
    # 400 invalid-request: "Malformed request or invalid parameters" (e.g. too long).
    XErrorRule(_s(400), None, None, PermanentError, "X rejected the request as invalid"),
    # 404: "Resource doesn't exist or has been deleted" - e.g. the reply target is gone.
    XErrorRule(_s(404), None, None, PermanentError, "not found on X"),
    # 5xx: "Wait and retry; check status page".
    XErrorRule(range(500, 600), None, None, TransientError, "X server error", maybe_sent=True),
)


def _problem(body: Any) -> tuple[str, str, str]:
    """(type, title, detail) from an X problem body, tolerating any JSON shape."""
    if not isinstance(body, dict):
        return "", "", ""
    ptype = str(body.get("type") or "")
    title = str(body.get("title") or "")
    parts = [str(body.get("detail") or "")]
    errors = body.get("errors")
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, dict):
                parts.append(str(err.get("message") or err.get("detail") or ""))
                ptype = ptype or str(err.get("type") or "")
    detail = " ".join(p for p in parts if p).strip()
    return ptype, title, detail


def _retry_after(headers: Any, now: float) -> float:
    raw = headers.get("x-rate-limit-reset") if headers is not None else None
    try:
        reset = float(str(raw))
    except (TypeError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT
    # Never 0: a reset already in the past (clock skew) still waits a moment.
    return max(reset - now, 1.0)


def classify_x_response(
    status: int, body: Any, headers: Any = None, *, now: float | None = None
) -> PlatformError:
    """Turn one X error response into the error class the ledger acts on."""
    ptype, title, detail = _problem(body)
    for rule in X_ERROR_TABLE:
        if status not in rule.status:
            continue
        if rule.problem_suffix and not ptype.endswith(rule.problem_suffix):
            continue
        if rule.detail_contains and rule.detail_contains not in detail.lower():
            continue
        message = f"{rule.label} (HTTP {status}{': ' + detail if detail else ''})"[:500]
        code = ptype.rsplit("/", 1)[-1] if ptype.startswith("http") else status
        if rule.error is TransientError:
            if rule.rate_limited:
                wait = _retry_after(headers, time.time() if now is None else now)
                return TransientError(message, code=code, retry_after=wait, rate_limited=True)
            return TransientError(message, code=code, maybe_sent=rule.maybe_sent)
        if rule.error is PermanentError:
            return PermanentError(message, code=code, duplicate=rule.duplicate)
        return rule.error(message, code=code)
    # Unknown status or shape: transient; the ledger caps the retries, and looks first.
    shown = f": {title or detail}" if (title or detail) else ""
    return TransientError(
        f"unexpected answer from X (HTTP {status}{shown})"[:500], code=status, maybe_sent=True
    )


def response_json(response: requests.Response) -> Any:
    """The JSON body of an answer tweepy handed back, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def classify_client_failure(exc: Exception, *, action: str, idempotent: bool) -> PlatformError:
    """Classify what a tweepy.Client call raised: an HTTP error by ``X_ERROR_TABLE``, a
    network failure by ``classify_transport_error``."""
    if isinstance(exc, tweepy.HTTPException):
        response = exc.response
        return classify_x_response(response.status_code, response_json(response), response.headers)
    if isinstance(exc, requests.RequestException):
        return classify_transport_error(exc, action=f"X {action}", idempotent=idempotent)
    # tweepy's own error parsing can fail on odd bodies (e.g. a JSON array): we got
    # an error status we cannot read; unknown -> transient.
    logger.warning("X %s failed with unexpected %s", action, type(exc).__name__)
    return TransientError(
        f"X {action}: unexpected failure ({type(exc).__name__})", maybe_sent=not idempotent
    )
