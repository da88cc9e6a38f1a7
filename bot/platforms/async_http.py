"""asyncio HTTP for the burst path: one aiohttp session, host rerouting, failure classes.

The thread-per-request path (tweepy/facebook-sdk over requests) costs ~3–4 ms of CPU per
post under the GIL and one thread per request in flight; a 10,000-account release needs
hundreds of requests in flight at well under 1 ms of CPU each (docs/BENCHMARKS.md). The
delivery dispatcher (bot/dispatch.py) sends plain single posts through this path and
everything else through the adapters' synchronous methods.

Rerouting is the same as ``routing.reroute_url``: requests are signed for the real origin
and sent to the routed base URL, so a sandbox sees exactly what the real API would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from bot.platforms.base import OutcomeUnknown, PlatformError, TransientError
from bot.platforms.routing import _environment_proxies


def async_session(*, timeout: float, limit: int) -> aiohttp.ClientSession:
    """A pooled session for many accounts at once, in the running event loop.

    No cookies (one session serves thousands of accounts). The environment's proxies are
    honoured only when there are any: aiohttp's per-request environment scan costs CPU
    on every post otherwise (requests' did, measured: see routing.session_for).
    """
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 10.0)),
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=bool(_environment_proxies()),
    )


def classify_async_failure(exc: BaseException, *, action: str) -> PlatformError:
    """Classify a network failure of a request that creates a post (no status received).

    Only a failure to connect proves nothing was sent (TransientError). Anything after
    the connection was made — reset, server disconnect, a read timeout, the total
    timeout, a broken body — may follow a post the platform created: OutcomeUnknown, so
    the ledger looks for it before sending again. The message names the exception type
    only: its text may hold a URL.
    """
    kind = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return TransientError(f"{action}: could not connect ({kind})", code=kind)
    return OutcomeUnknown(
        f"{action}: request sent but no answer came back ({kind}); it may have succeeded",
        code=kind,
    )


NETWORK_FAILURES = (aiohttp.ClientError, asyncio.TimeoutError)


def json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
