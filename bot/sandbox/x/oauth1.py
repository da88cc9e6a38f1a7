"""OAuth 1.0a request verification (RFC 5849, HMAC-SHA1), as X checks user-context calls.

The expected signature is computed with Clarion's own signer (``bot.platforms.oauth1``:
the same base string and signing functions the burst and threaded paths sign with), so
the sandbox and the client can never disagree about RFC 5849 in two different ways;
tests/sandbox/test_oauth1.py checks it against requests signed by oauthlib (tweepy).

Clients sign the ORIGINAL URL and are then rerouted to the sandbox, so the base string
URI is rebuilt from X's origin plus the path and query the sandbox received. X serves its
API on two hosts, ``https://api.x.com`` (current) and ``https://api.twitter.com``
(former), and a request signed for either verifies there; the sandbox cannot see which
one the client addressed, so it accepts a signature over either and reports which
(``verify`` returns the origin, which the answers then name, e.g. in ``location``).
Query and form-encoded body parameters are signed (RFC 5849 3.4.1.3); JSON bodies are not.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl

from oauthlib.common import extract_params

from bot.platforms import oauth1 as signer

X_ORIGIN = "https://api.x.com"
X_LEGACY_ORIGIN = "https://api.twitter.com"
# Tried in this order: Clarion signs for the current host, so it verifies at the first try.
X_ORIGINS = (X_ORIGIN, X_LEGACY_ORIGIN)
# X rejects requests whose oauth_timestamp is far from its clock; we allow a wide window.
MAX_CLOCK_SKEW_S = 15 * 60


class OAuthFailure(Exception):
    """The request is not correctly signed; ``reason`` is for logs, never for clients."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OAuthRequest:
    consumer_key: str
    token: str | None
    params: dict[str, str]  # all oauth_* parameters from the header, unescaped


def parse_header(authorization: str) -> OAuthRequest:
    if authorization[:6].lower() != "oauth ":
        raise OAuthFailure("not an OAuth header")
    params = signer.parse_authorization(authorization)
    for required in ("oauth_consumer_key", "oauth_signature", "oauth_signature_method"):
        if required not in params:
            raise OAuthFailure(f"missing {required}")
    return OAuthRequest(params["oauth_consumer_key"], params.get("oauth_token"), params)


def base_string(
    method: str,
    path: str,
    query: str,
    request: OAuthRequest,
    form_body: str | None,
    origin: str = X_ORIGIN,
) -> str:
    """The signature base string (RFC 5849 3.4.1), over one of X's origins."""
    params = [(k, v) for k, v in request.params.items() if k not in ("oauth_signature", "realm")]
    if query:
        params.extend(parse_qsl(query, keep_blank_values=True))
    if form_body:
        # Signing clients (requests-oauthlib) include a form body only when oauthlib can
        # parse it as one; mirror that exactly or such requests would never verify.
        params.extend(extract_params(form_body) or [])
    return signer.base_string(method, origin + path, params)


def verify(
    request: OAuthRequest,
    *,
    method: str,
    path: str,
    query: str,
    form_body: str | None,
    consumer_secret: str,
    token_secret: str,
    now: float,
) -> str:
    """The X origin the request was signed for; OAuthFailure unless the HMAC-SHA1
    signature (RFC 5849 3.4.2) matches over one of ``X_ORIGINS``."""
    if request.params["oauth_signature_method"] != signer.SIGNATURE_METHOD:
        raise OAuthFailure("only HMAC-SHA1 is supported")
    try:
        timestamp = int(request.params.get("oauth_timestamp", ""))
    except ValueError as exc:
        raise OAuthFailure("bad oauth_timestamp") from exc
    if abs(now - timestamp) > MAX_CLOCK_SKEW_S:
        raise OAuthFailure("oauth_timestamp out of range")
    given = request.params["oauth_signature"]
    for origin in X_ORIGINS:
        base = base_string(method, path, query, request, form_body, origin)
        if hmac.compare_digest(signer.sign(base, consumer_secret, token_secret), given):
            return origin
    raise OAuthFailure("signature mismatch")
