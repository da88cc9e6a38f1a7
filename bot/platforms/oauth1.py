"""OAuth 1.0a HMAC-SHA1 (RFC 5849): the one signer of our own.

Used by X's request building (``bot.platforms.x.rules``), which both transports send, and
by the sandbox's verifier (``bot.sandbox.x.oauth1``), which recomputes the signature with
the same functions. tweepy keeps signing the calls tweepy itself makes (sign-in, the CLI's
account connect, timeline and metrics reads) through oauthlib;
tests/platforms/test_oauth1.py proves the two give the same header.

oauthlib's ``Client.sign`` was measured at ~0.3–1.2 ms of CPU per request (it re-parses
the header it has just built); a 10,000-account release on two cores needs well under
that, so the escaping here takes fast paths for the ASCII values that OAuth mostly signs
(~20 µs a header).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import secrets
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

SIGNATURE_METHOD = "HMAC-SHA1"

_UNRESERVED_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ASCII_ESCAPES = str.maketrans(
    {chr(c): f"%{c:02X}" for c in range(128) if chr(c) not in _UNRESERVED_CHARS}
)
_ALL_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]*\Z").match

# Nonces need only be unique per timestamp and token (RFC 5849 §3.3): a random prefix per
# process and a counter, rather than a system-random draw per request.
_NONCE_PREFIX = secrets.token_hex(8)
_nonce_counter = itertools.count()


def escape(value: str) -> str:
    """RFC 5849 §3.6 percent-encoding: unreserved characters stay, everything else is
    encoded as UTF-8 %XX (upper case)."""
    # Most OAuth values need nothing; other ASCII goes through str.translate; quote()
    # walks byte by byte in Python, so only non-ASCII text uses it.
    if _ALL_UNRESERVED(value):
        return value
    if value.isascii():
        return value.translate(_ASCII_ESCAPES)
    return quote(value, safe="~")


def new_nonce() -> str:
    return f"{_NONCE_PREFIX}{next(_nonce_counter)}"


def base_string_uri(url: str) -> str:
    """RFC 5849 §3.4.1.2: scheme and host in lower case, no default port, no query or
    fragment."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else (f"{host}:{port}")
    )
    return urlunsplit((scheme, netloc, parts.path or "/", "", ""))


def normalized_parameters(params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: encode names and values, sort, join with ``=`` and ``&``.
    ``params`` must not hold ``oauth_signature`` or ``realm``."""
    encoded = sorted((escape(name), escape(value)) for name, value in params)
    return "&".join(f"{name}={value}" for name, value in encoded)


def base_string(method: str, uri: str, params: Iterable[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1: the signature base string. ``uri`` is the base string URI
    (``base_string_uri``); ``params`` are the oauth_* protocol parameters with the query
    and form-encoded body parameters."""
    normalized = normalized_parameters(params)
    # The normalized string holds only escaped values, '=' and '&', so escaping it again
    # touches just those three characters.
    escaped = normalized.replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    return f"{method.upper()}&{escape(uri)}&{escaped}"


def sign(base: str, consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 §3.4.2: the HMAC-SHA1 signature of a base string, base64-encoded."""
    key = f"{escape(consumer_secret)}&{escape(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def authorization_header(
    method: str,
    url: str,
    *,
    consumer_key: str,
    consumer_secret: str,
    token: str,
    token_secret: str,
    form: Iterable[tuple[str, str]] = (),
    nonce: str | None = None,
    timestamp: str | None = None,
) -> str:
    """The ``Authorization: OAuth ...`` header value for one request.

    ``url`` is the request URL on the real origin; its query parameters are signed.
    ``form`` are the parameters of an ``application/x-www-form-urlencoded`` body (a JSON
    body is not signed, RFC 5849 §3.4.1.3.1). ``nonce`` and ``timestamp`` are drawn when
    not given (tests pin them).
    """
    oauth = {
        "oauth_consumer_key": consumer_key,
        "oauth_nonce": nonce or new_nonce(),
        "oauth_signature_method": SIGNATURE_METHOD,
        "oauth_timestamp": timestamp or str(int(time.time())),
        "oauth_token": token,
        "oauth_version": "1.0",
    }
    query = urlsplit(url).query
    params = list(oauth.items())
    if query:
        params.extend(parse_qsl(query, keep_blank_values=True))
    params.extend(form)
    base = base_string(method, base_string_uri(url), params)
    oauth["oauth_signature"] = sign(base, consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{name}="{escape(value)}"' for name, value in oauth.items())


def parse_authorization(header: str) -> dict[str, str]:
    """The parameters of an ``OAuth ...`` header, unescaped; {} for any other scheme."""
    if header[:6].lower() != "oauth ":
        return {}
    return {_unescape(name): _unescape(value) for name, value in _HEADER_PARAM.findall(header[6:])}


_HEADER_PARAM = re.compile(r'([A-Za-z0-9_.~%-]+)="([^"]*)"')


def _unescape(value: str) -> str:
    return unquote(value) if "%" in value else value
