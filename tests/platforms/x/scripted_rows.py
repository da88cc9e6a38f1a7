"""Every row of X's error table as an answer the sandbox can be scripted to give: shared
by the threaded and the burst path's tests, which must classify each the same way."""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError, PermanentError, TransientError

SCRIPTED_ROWS = [
    pytest.param(
        429,
        {
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.twitter.com/2/problems/usage-capped",
            "status": 429,
        },
        PermanentError,
        "usage cap",
        id="429-usage-capped",
    ),
    pytest.param(
        429,
        {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"},
        TransientError,
        "rate limited",
        id="429-rate-limited",
    ),
    pytest.param(
        401,
        {"title": "Unauthorized", "type": "about:blank", "detail": "Unauthorized"},
        AuthError,
        "token",
        id="401",
    ),
    pytest.param(
        403,
        {
            "title": "Forbidden",
            "type": "https://api.twitter.com/2/problems/oauth1-permissions",
            "detail": "Your client app is not configured with the appropriate oauth1 permissions",
        },
        AuthError,
        "write permission",
        id="403-oauth1-permissions",
    ),
    pytest.param(
        403,
        {
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
        PermanentError,
        "duplicate content",
        id="403-duplicate",
    ),
    pytest.param(
        403,
        {"title": "Forbidden", "detail": "Your account is suspended", "type": "about:blank"},
        PermanentError,
        "suspended",
        id="403-other",
    ),
    pytest.param(
        400,
        {
            "title": "Invalid Request",
            "type": "https://api.twitter.com/2/problems/invalid-request",
            "detail": "One or more parameters to your request was invalid.",
            "errors": [{"message": "$.text: too long", "parameters": {}}],
        },
        PermanentError,
        "too long",
        id="400",
    ),
    pytest.param(
        404,
        {"title": "Not Found Error", "detail": "Could not find tweet", "type": "about:blank"},
        PermanentError,
        "could not find",
        id="404",
    ),
    pytest.param(
        503,
        {"title": "Service Unavailable", "detail": "Service Unavailable"},
        TransientError,
        "server error",
        id="503",
    ),
    pytest.param(418, {"title": "I'm a teapot"}, TransientError, "teapot", id="unknown-418"),
    pytest.param(500, ["not", "an", "object"], TransientError, "", id="500-odd-json"),
]
