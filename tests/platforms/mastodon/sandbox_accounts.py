"""Accounts on sandbox Mastodon instances, shared by the test files of this folder."""

from __future__ import annotations

import itertools
import time
from typing import Any

from bot.platforms.base import Credentials

_names = itertools.count(1)


def new_account(sb: Any, host: str = "union.social", followers: int = 100) -> Credentials:
    """A fresh account (its own name, so tests never see each other's statuses)."""
    made = sb.admin.create_mastodon_account(
        host, f"vol{next(_names)}_{int(time.time() * 1000) % 100000}", followers
    )
    return Credentials(made["access_token"], platform_user_id=made["id"], server=made["server"])


def host_of(creds: Credentials) -> str:
    return creds.server.split("://", 1)[1]


def texts_on(sb: Any, creds: Credentials) -> list[str]:
    return [s["text"] for s in sb.admin.mastodon_statuses(host_of(creds), creds.platform_user_id)]


# (answer the instance gives to POST /api/v1/statuses, error class, attributes it must have)
SCRIPTED_ROWS: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
    ({"status": 401, "body": {"error": "The access token is invalid"}}, "AuthError", {}),
    (
        {"status": 403, "body": {"error": "This action is outside the authorized scopes"}},
        "AuthError",
        {},
    ),
    ({"status": 404, "body": {"error": "Record not found"}}, "PermanentError", {}),
    (
        {"status": 422, "body": {"error": "Validation failed: Text can't be blank"}},
        "PermanentError",
        {},
    ),
    (
        {"status": 429, "body": {"error": "Too many requests"}, "headers": {}},
        "TransientError",
        {"rate_limited": True, "retry_after": 300.0},
    ),
    ({"status": 500, "body": "<html>boom</html>"}, "TransientError", {"maybe_sent": True}),
    ({"status": 502, "body": ""}, "TransientError", {"maybe_sent": True}),
    ({"status": 503, "body": {"error": "down"}}, "TransientError", {"maybe_sent": True}),
    ({"status": 504, "body": ""}, "TransientError", {"maybe_sent": True}),
    ({"status": 418, "body": {"error": "teapot"}}, "TransientError", {"maybe_sent": True}),
    ({"status": 200, "body": {"no": "id"}}, "OutcomeUnknown", {}),
    ({"status": 200, "body": "not json"}, "OutcomeUnknown", {}),
]
