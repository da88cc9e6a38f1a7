"""The asyncio transport, on aiohttp: the burst path's session, rerouting and failure classes.

The thread-per-request path (tweepy/facebook-sdk over requests) costs ~3–4 ms of CPU per
post under the GIL and one thread per request in flight; a 10,000-account release needs
hundreds of requests in flight at well under 1 ms of CPU each (docs/BENCHMARKS.md). The
delivery dispatcher (bot/delivery/dispatcher.py) sends plain single posts through this path
and everything else through the adapters' synchronous methods.

Requests arrive built and signed for the real origin (``HttpRequest``) and are sent to the
routed base URL (``routes.reroute_url``, as the threaded path's ``HostRerouteAdapter``
does), so a sandbox sees exactly what the real API would.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from typing import TypeVar

import aiohttp

from bot.platforms.base import OutcomeUnknown, PlatformError, TransientError
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse
from bot.platforms.http.routes import (
    environment_ca_bundle,
    normalise_routes,
    origin_of,
    proxy_for,
    reroute_url,
)

T = TypeVar("T")

NETWORK_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError)


def async_session(*, timeout: float, limit: int) -> aiohttp.ClientSession:
    """A pooled session for many accounts at once, in the running event loop.

    No cookies (one session serves thousands of accounts). The environment is read the
    way ``sync.session_for`` reads it for the threaded path — the CA bundle here, proxies
    per sender (``AsyncSender``) — and never through aiohttp's ``trust_env``, which would
    also send ~/.netrc credentials as Basic auth.
    """
    bundle = environment_ca_bundle()
    tls: ssl.SSLContext | bool = True
    if bundle:  # a file or, as requests also takes it, a directory of hashed certificates
        if os.path.isdir(bundle):
            tls = ssl.create_default_context(capath=bundle)
        else:
            tls = ssl.create_default_context(cafile=bundle)
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0)),
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ssl=tls),
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def classify_async_failure(
    exc: BaseException, *, action: str, idempotent: bool = False
) -> PlatformError:
    """Classify a network failure (no status received).

    Only a failure to connect proves nothing was sent (TransientError, ``not_sent``). Anything after
    the connection was made — reset, server disconnect, a read timeout, the total
    timeout, a broken body — may follow a post the platform created: OutcomeUnknown, so
    the ledger looks for it before sending again; for an idempotent read it is just
    transient. The message names the exception type only: its text may hold a URL.
    """
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        # Refused, DNS (ClientConnectorDNSError), the TLS handshake (ClientConnectorSSLError)
        # and the connect timeout all fail before a byte of the request is written.
        return TransientError(f"{action}: could not connect ({kind})", code=kind, not_sent=True)
    if idempotent:
        return TransientError(f"{action}: no answer ({kind})", code=kind)
    return OutcomeUnknown(
        f"{action}: request sent but no answer came back ({kind}); it may have succeeded",
        code=kind,
    )


class AsyncSender:
    """Moves ``HttpRequest``s over one aiohttp session: reroutes each to its origin's base
    URL and uses the proxy the environment names for it (read once per origin)."""

    def __init__(self, session: aiohttp.ClientSession, routes: Mapping[str, str] | None) -> None:
        self._session = session
        self._routes = normalise_routes(routes)
        self._proxies: dict[str, str | None] = {}

    def _proxy(self, target: str) -> str | None:
        origin = origin_of(target)
        if origin not in self._proxies:
            self._proxies[origin] = proxy_for(target)
        return self._proxies[origin]

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; a network failure is raised classified
        (``classify_async_failure``)."""
        target = reroute_url(request.url, self._routes) if self._routes else request.url
        try:
            async with self._session.request(
                request.method,
                target,
                data=request.body,
                headers=dict(request.headers),
                proxy=self._proxy(target),
            ) as answer:
                return HttpResponse(answer.status, await answer.read(), answer.headers)
        except NETWORK_FAILURES as exc:
            raise classify_async_failure(
                exc, action=request.action, idempotent=request.idempotent
            ) from None

    async def carry_out(self, call: Call[T]) -> T:
        """Send the call's request and read its answer with the call's own reader."""
        return call.read(await self.send(call.request))
