"""Graph's answers, classified once: the error table, cited from Meta's documentation.

``classify_graph_response`` is the one place a failed Graph answer becomes
TransientError, AuthError or PermanentError, whether it came to our own request
(``rules``, both transports) or through facebook-sdk's ``GraphAPI`` (``adapter``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.platforms.base import AuthError, PermanentError, PlatformError, TransientError

# When a throttled call carries no estimated_time_to_regain_access: Graph's app and
# Page limits are computed over a rolling one-hour window
# (https://developers.facebook.com/docs/graph-api/overview/rate-limiting), so a short
# wait lets part of it drain; 10 minutes keeps campaign posts timely without hammering.
DEFAULT_THROTTLE_WAIT = 600.0


@dataclass(frozen=True)
class GraphErrorRule:
    error: type[PlatformError]
    label: str
    rate_limited: bool = False
    maybe_sent: bool = False  # a create may have happened: look before resending
    duplicate: bool = False  # "same text again": after an unknown outcome, ours is there


_RATE = GraphErrorRule(TransientError, "Facebook rate limit reached", rate_limited=True)
_AUTH_PERMISSION = GraphErrorRule(
    AuthError, "the Page token lacks a permission (reconnect the Page and grant it)"
)

# Codes: https://developers.facebook.com/docs/graph-api/guides/error-handling ("Error Codes")
# and /work/shared/contracts/README.md.
GRAPH_ERROR_TABLE: dict[int, GraphErrorRule] = {
    # 190 "Access token has expired" (every subcode: 458 app removed, 459 checkpoint,
    # 460 password changed, 463 expired, 464 unconfirmed, 467 invalid): "Get a new token".
    190: GraphErrorRule(AuthError, "Facebook rejected the Page token"),
    # 102 "API Session": login status or token expired/revoked/invalid - get a new token.
    102: GraphErrorRule(AuthError, "Facebook session invalid"),
    # 10 "API Permission Denied" and 200-299 "API Permission": "Permission is either not
    # granted or has been removed" - only reconnecting with the permission fixes it.
    10: _AUTH_PERMISSION,
    **{code: _AUTH_PERMISSION for code in range(200, 300)},
    # 4 app, 17 user, 32 Page, 613 custom rate limit; 341 "Application limit reached":
    # "temporary issue due to throttling. Wait and retry the operation".
    4: _RATE,
    17: _RATE,
    32: _RATE,
    613: _RATE,
    341: _RATE,
    # 368 "Temporarily blocked for policies violations". The docs say "wait and retry",
    # but repeating the same content is what got it blocked: this post must not be
    # resent automatically; the operator reviews it.
    368: GraphErrorRule(PermanentError, "Facebook blocked the post for policy reasons"),
    # 506 "Duplicate Post": "Duplicate posts cannot be published consecutively".
    506: GraphErrorRule(PermanentError, "duplicate post", duplicate=True),
    # 100 "Invalid parameter".
    100: GraphErrorRule(PermanentError, "Facebook rejected a parameter"),
    # 803 "Some of the aliases you requested do not exist": a multi-id lookup
    # (GET /?ids=) naming a deleted or unknown object; the engagement reader finds which.
    803: GraphErrorRule(PermanentError, "Facebook has no object with that id"),
    # 2635: the Graph version asked for is deprecated (see graph_version below).
    2635: GraphErrorRule(
        PermanentError,
        "this Graph API version is deprecated: set FACEBOOK_GRAPH_VERSION to a current "
        "version (e.g. v25.0)",
    ),
    # 1 "API Unknown" / 2 "API Service": "temporary issue due to downtime. Wait and retry".
    1: GraphErrorRule(TransientError, "Facebook API unknown error", maybe_sent=True),
    2: GraphErrorRule(TransientError, "Facebook API service error", maybe_sent=True),
}


def _regain_access_seconds(headers: Any) -> float | None:
    """Longest ``estimated_time_to_regain_access`` (minutes) in X-Business-Use-Case-Usage.

    Header shape: ``{"<business id>": [{"type": "pages", "call_count": 100, ...,
    "estimated_time_to_regain_access": 5}]}``
    (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
    """
    raw = headers.get("x-business-use-case-usage") if headers is not None else None
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    valid = [float(m) for m in minutes if isinstance(m, int | float) and m > 0]
    return max(valid) * 60.0 if valid else None


def classify_graph_response(
    status: int, body: Any, headers: Any = None, *, secrets: tuple[str, ...] = ()
) -> PlatformError:
    """Turn one failed Graph answer into the error class the ledger acts on.

    ``secrets`` (the tokens and app secret the request carried) are blanked out of
    Graph's message in case it ever quotes one back.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(error.get("message") or "")
        for secret in secrets:
            message = message.replace(secret, "***")
        message = message[:300]
        rule = GRAPH_ERROR_TABLE.get(code) if code is not None else None
        if rule is not None:
            text = f"{rule.label} (#{code}: {message})"
            if rule.error is TransientError:
                if rule.rate_limited:
                    wait = _regain_access_seconds(headers) or DEFAULT_THROTTLE_WAIT
                    return TransientError(text, code=code, retry_after=wait, rate_limited=True)
                return TransientError(text, code=code, maybe_sent=rule.maybe_sent)
            if rule.error is PermanentError:
                return PermanentError(text, code=code, duplicate=rule.duplicate)
            return rule.error(text, code=code)
        if status >= 500:
            return TransientError(
                f"Facebook server error (HTTP {status}: {message})", code=code, maybe_sent=True
            )
        # Unknown code (is_transient or not): transient, the ledger caps retries and looks
        # for the post before resending it.
        return TransientError(
            f"unexpected Facebook error (#{code}: {message})", code=code, maybe_sent=True
        )
    if status >= 500:
        return TransientError(
            f"Facebook server error (HTTP {status})", code=status, maybe_sent=True
        )
    return TransientError(
        f"unexpected answer from Facebook (HTTP {status})", code=status, maybe_sent=True
    )
