"""What keeps the campaign pages safe: CSRF tokens, form parsing, rate limits, headers.

CSRF: a random token lives in the signed session cookie (Starlette's SessionMiddleware,
itsdangerous) and is repeated in every form as ``csrf``; a POST whose field does not
match is refused with 403 before anything else happens (OWASP's "synchronizer token"
pattern). The session cookie is HttpOnly and SameSite=Lax, and Secure when the pages are
served over https.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

CSRF_FIELD = "csrf"
# The largest form is a Facebook post's wording: 63,206 characters. A character is up to 4
# bytes of UTF-8 and each byte is sent percent-encoded (3 bytes), so 12 bytes a character,
# plus room for the other fields (CSRF token, email).
MAX_WORDING_CHARS = 63_206
MAX_FORM_BYTES = MAX_WORDING_CHARS * 12 + 16 * 1024


class Refused(Exception):
    """Stop handling this request and show a friendly page with this status."""

    def __init__(
        self, status: int, title: str, text: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.text = text
        self.retry_after = retry_after


# Paths whose next segment is a secret (withdraw links, console invite and reset links).
SECRET_PREFIXES = ("/w/", "/console/invite/", "/console/reset/")


def loggable_path(request: Request) -> str:
    """The request path with a link's secret replaced: logs never hold it."""
    path = request.url.path
    for prefix in SECRET_PREFIXES:
        if path.startswith(prefix):
            _, _, rest = path[len(prefix) :].partition("/")
            return prefix + "…" + (f"/{rest}" if rest else "")
    return path


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (templates call this)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def read_form(request: Request) -> dict[str, list[str]]:
    """An application/x-www-form-urlencoded body, parsed by hand: Starlette's
    request.form() would need python-multipart, which nothing else here uses."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise Refused(400, "That form could not be read", "Please go back and try again.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, "That is too long", "Please shorten the text and try again.")
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(bytes(body).decode("utf-8", "replace"), keep_blank_values=True):
        refuse_nul(name, value)
        fields.setdefault(name, []).append(value)
    return fields


async def checked_form(request: Request) -> dict[str, list[str]]:
    """The form, once its CSRF field matches the session's token; else 403."""
    fields = await read_form(request)
    sent = (fields.get(CSRF_FIELD) or [""])[0]
    expected = request.session.get(CSRF_FIELD)
    if not sent or not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        logger.info("refused a form without a valid CSRF token on %s", loggable_path(request))
        raise Refused(
            403,
            "This form has expired",
            "For your safety we only accept forms sent from this site in the last few "
            "hours. Please go back, reload the page and try again.",
        )
    return fields


def field(fields: dict[str, list[str]], name: str) -> str:
    return (fields.get(name) or [""])[0]


class RateLimiter:
    """At most ``limit`` hits per ``window`` seconds per key (client address), in memory.

    A sliding window of timestamps per key; keys with no recent hits are dropped so the
    table stays small. One process only: behind several workers, each counts its own.
    """

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = clock()

    def hit(self, key: str) -> float | None:
        """Count one hit; None when allowed, else seconds until the next is allowed."""
        now = self._clock()
        with self._lock:
            if now - self._last_sweep > self.window:
                self._sweep(now)
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, self.window - (now - hits[0]))
            hits.append(now)
            return None

    def release(self, key: str) -> None:
        """Take back the latest hit of ``key``: an attempt that turned out to be fine
        (a right password) should not use up the allowance of everyone at that address."""
        with self._lock:
            hits = self._hits.get(key)
            if hits:
                hits.pop()

    def _sweep(self, now: float) -> None:
        stale = [k for k, h in self._hits.items() if not h or now - h[-1] >= self.window]
        for key in stale:
            del self._hits[key]
        self._last_sweep = now


def client_address(request: Request) -> str:
    """The rate limit's key: the client's IPv4 address, or its IPv6 /64.

    An IPv6 host usually has a whole /64 to itself (RFC 6177, RFC 7421) and can pick a
    new address in it for each request, so counting single IPv6 addresses limits nothing.
    uvicorn rewrites request.client from X-Forwarded-For only for trusted proxies
    (--forwarded-allow-ips), so this cannot be spoofed by a header."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def rate_limited(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Count the request against ``app.state.limiter`` before running ``handler``."""

    async def wrapped(request: Request) -> Response:
        limiter: RateLimiter = request.app.state.limiter
        wait = limiter.hit(client_address(request))
        if wait is not None:
            raise Refused(
                429,
                "Too many attempts",
                f"Please wait {max(1, round(wait))} seconds and try again.",
                retry_after=wait,
            )
        return await handler(request)

    wrapped.__name__ = handler.__name__
    return wrapped


SECURITY_HEADERS = [
    # No script needed; the countdown's optional ticker is our own static file.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: https:; object-src 'none'; "
        b"base-uri 'none'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # Withdraw links carry a secret in the path: never send it on as a Referer.
    (b"referrer-policy", b"no-referrer"),
]


# A response that does not say how to cache it may hold one person's data (a pledge, its
# private link, their Pages' names, a CSRF token): no browser or proxy keeps it (RFC 9111
# §5.2.2.5). Public pages say otherwise themselves (the campaign page, its image, /static/).
DEFAULT_CACHE_CONTROL = (b"cache-control", b"no-store")
# Our stylesheets and scripts: public, so left to the browser's own caching.
PUBLIC_PREFIXES = ("/static/",)


class SecurityHeaders:
    """Adds the headers above to every HTTP response, and ``no-store`` to every response
    that names no caching of its own, outside /static/."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                if b"cache-control" not in names and not scope["path"].startswith(PUBLIC_PREFIXES):
                    extra.append(DEFAULT_CACHE_CONTROL)
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


NUL_REFUSAL = (
    "It contained a NUL character (%00), which no text can hold and PostgreSQL refuses. "
    "Please go back and type it again."
)


def refuse_nul(*texts: str) -> None:
    """Refused (400) when a form's name or value holds a NUL character."""
    if any("\x00" in text for text in texts):
        raise Refused(400, "That form could not be read", NUL_REFUSAL)


class RefusesNul:
    """Answers 400 to a request whose path or query holds a NUL character (``%00``),
    before any page reads it: no field of Clarion's can hold one, and PostgreSQL refuses
    it in a query's parameters (a 500 instead of an answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", "")
        ):
            body = f"That address could not be read. {NUL_REFUSAL}\n".encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"text/plain; charset=utf-8"),
                        (b"content-length", str(len(body)).encode()),
                        DEFAULT_CACHE_CONTROL,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class PublicAddress:
    """Makes every request look addressed to WEB_BASE_URL: its scheme and Host header
    replace the request's own before anything reads them. Starlette builds absolute URLs
    from them (``request.url``, ``url_for``, the router's redirect from ``/console`` to
    ``/console/``), and a client chooses its Host header freely: a forged one would put
    another site into a page or a redirect, and a shared cache would keep it for everyone
    (OWASP, "Testing for Host Header Injection")."""

    def __init__(self, app: ASGIApp, *, base_url: str) -> None:
        self.app = app
        parts = urlsplit(base_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(n, v) for n, v in scope["headers"] if n not in _ADDRESS_HEADERS]
            scope = {**scope, "scheme": self.scheme, "headers": [*headers, (b"host", self.host)]}
        await self.app(scope, receive, send)


# The Host header and the proxy headers some libraries read in its place.
_ADDRESS_HEADERS = frozenset({b"host", b"x-forwarded-host", b"forwarded"})
