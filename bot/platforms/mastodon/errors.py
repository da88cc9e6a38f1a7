"""Mastodon's answers, classified once: the error table, cited from Mastodon's documentation.

``classify_mastodon_response`` is the one place a failed answer from an instance becomes
TransientError, AuthError or PermanentError, whether it came to our own request
(``rules``, both transports) or through Mastodon.py (``adapter``, which hands over the
status and the ``error`` text Mastodon.py kept).

Mastodon answers errors as ``{"error": "..."}`` with the HTTP status carrying the meaning
(https://docs.joinmastodon.org/entities/Error/, https://docs.joinmastodon.org/api/guidelines/).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bot.platforms.base import AuthError, PermanentError, PlatformError, TransientError

# When a 429 carries no usable X-RateLimit-Reset: Mastodon's default limits are counted
# over 5-minute windows for most calls (300 per 5 minutes per account), so waiting one
# window lets it drain (https://docs.joinmastodon.org/api/rate-limits/).
DEFAULT_RATE_LIMIT_WAIT = 300.0


@dataclass(frozen=True)
class MastodonErrorRule:
    error: type[PlatformError]
    label: str
    rate_limited: bool = False
    maybe_sent: bool = False  # a create may have happened: look before resending


# Statuses: https://docs.joinmastodon.org/methods/statuses/#create ("Response") and
# https://docs.joinmastodon.org/api/guidelines/#errors.
MASTODON_ERROR_TABLE: dict[int, MastodonErrorRule] = {
    # 401 "Unauthorized: Invalid or missing Authorization header" — the token was revoked
    # (the user removed the app under Preferences > Account > Authorized apps) or never
    # existed on this instance: only signing in again fixes it.
    401: MastodonErrorRule(AuthError, "the instance rejected the access token"),
    # 403 "This action is outside the authorized scopes", "Your login is currently
    # disabled", or the account is suspended/unconfirmed: reconnecting (with the scope,
    # or once the instance lifts the block) is the only way forward.
    403: MastodonErrorRule(AuthError, "the instance refused this account or token"),
    # 404 "Record not found": the status being replied to was deleted (a thread's earlier
    # part) — this post cannot go as a reply.
    404: MastodonErrorRule(PermanentError, "the instance has no such status or account"),
    # 422 "Unprocessable entity": "Validation failed: Text character limit of 500
    # exceeded", "Text can't be blank", "Scheduled at ..." — the post can never go as it is.
    422: MastodonErrorRule(PermanentError, "the instance refused the post"),
    # 429 "Too many requests": X-RateLimit-Reset says when the window resets
    # (https://docs.joinmastodon.org/api/rate-limits/).
    429: MastodonErrorRule(TransientError, "Mastodon rate limit reached", rate_limited=True),
    # 5xx: the instance (or its proxy) failed; a post may or may not have been created.
    500: MastodonErrorRule(TransientError, "Mastodon server error", maybe_sent=True),
    502: MastodonErrorRule(TransientError, "Mastodon bad gateway", maybe_sent=True),
    503: MastodonErrorRule(TransientError, "Mastodon unavailable", maybe_sent=True),
    504: MastodonErrorRule(TransientError, "Mastodon gateway timeout", maybe_sent=True),
}


def reset_wait(headers: Any, now: float | None = None) -> float | None:
    """Seconds until ``X-RateLimit-Reset``, or None when absent or unreadable.

    Mastodon sends an ISO 8601 time (``2026-12-06T05:00:00.000000Z``); some other servers
    send Unix seconds; both are read. The server's ``Date`` header, when present, is the
    "now" it is measured from, so a skewed local clock does not stretch the wait.
    """
    raw = headers.get("x-ratelimit-reset") if headers is not None else None
    if not raw:
        return None
    raw = str(raw).strip()
    try:
        reset = float(raw)
    except ValueError:
        try:
            reset = datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    current = now if now is not None else time.time()
    date = headers.get("date")
    if date and now is None:
        with contextlib.suppress(TypeError, ValueError):
            current = parsedate_to_datetime(str(date)).timestamp()
    return max(1.0, reset - current)


def classify_mastodon_response(
    status: int,
    body: Any,
    headers: Any = None,
    *,
    secrets: tuple[str, ...] = (),
    now: float | None = None,
) -> PlatformError:
    """Turn one failed answer from an instance into the error class the ledger acts on.

    ``secrets`` (the token the request carried) are blanked out of the instance's message
    in case it ever quotes one back.
    """
    message = ""
    if isinstance(body, dict) and body.get("error") is not None:
        message = str(body.get("error"))
    elif isinstance(body, str):
        message = body
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = message[:300]
    detail = f" (HTTP {status}: {message})" if message else f" (HTTP {status})"
    rule = MASTODON_ERROR_TABLE.get(status)
    if rule is None and status >= 500:
        rule = MastodonErrorRule(TransientError, "Mastodon server error", maybe_sent=True)
    if rule is None:
        # Unknown: transient; the ledger caps the retries and looks for the post before
        # sending it again.
        return TransientError(
            f"unexpected answer from Mastodon{detail}", code=status, maybe_sent=True
        )
    text = rule.label + detail
    if rule.error is TransientError:
        if rule.rate_limited:
            wait = reset_wait(headers, now) or DEFAULT_RATE_LIMIT_WAIT
            return TransientError(text, code=status, retry_after=wait, rate_limited=True)
        return TransientError(text, code=status, maybe_sent=rule.maybe_sent)
    return rule.error(text, code=status)
