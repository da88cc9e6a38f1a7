"""A Bluesky account's credentials, as the vault keeps them.

The vault seals ``base.Credentials``; a Bluesky account needs more than one token, so the
whole session rides, as JSON, in its ``token`` field (sealed like any token) and the DID
in ``platform_user_id``. The fields (agreed with the OAuth sign-in, ``oauth.py``):

    did, handle, pds_url, auth ("app_password" | "oauth"), access_token, refresh_token,
    and for OAuth also dpop_private_jwk, auth_server, client_id.
"""

from __future__ import annotations

import base64
import json
from enum import StrEnum
from typing import Any

from bot.platforms.base import AuthError, Credentials


class BlueskyAuth(StrEnum):
    APP_PASSWORD = "app_password"  # noqa: S105 - a kind of sign-in: the CLI-connected account
    OAUTH = "oauth"  # supporters (and accounts signed in on the web): DPoP-bound tokens


REQUIRED = ("did", "pds_url", "auth", "access_token", "refresh_token")


def pack(session: dict[str, Any]) -> Credentials:
    """The ``Credentials`` the vault seals for a Bluesky session."""
    missing = [name for name in REQUIRED if not session.get(name)]
    if missing:
        raise ValueError(f"Bluesky session lacks {', '.join(missing)}")
    return Credentials(token=json.dumps(session, sort_keys=True), platform_user_id=session["did"])


def unpack(creds: Credentials) -> dict[str, Any]:
    """The session in ``creds``; AuthError (reconnect the account) when it is not one."""
    try:
        session = json.loads(creds.token)
    except ValueError:
        session = None
    if not isinstance(session, dict) or any(not session.get(name) for name in REQUIRED):
        raise AuthError("the stored Bluesky session is unreadable: connect the account again")
    if session["auth"] not in set(BlueskyAuth):
        raise AuthError(f"unknown Bluesky sign-in kind {session['auth']!r}: connect again")
    return session


def token_expiry(token: str) -> float | None:
    """The ``exp`` claim (epoch seconds) of a JWT, read without checking its signature
    (only the PDS can, and it will): when to refresh before using it. None if unreadable."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) else None
