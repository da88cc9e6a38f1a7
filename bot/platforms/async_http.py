"""asyncio HTTP for the burst path: one aiohttp session, host rerouting, failure classes.

The thread-per-request path (tweepy/facebook-sdk over requests) costs ~3–4 ms of CPU per
post under the GIL and one thread per request in flight; a 10,000-account release needs
hundreds of requests in flight at well under 1 ms of CPU each (docs/BENCHMARKS.md). The
delivery dispatcher (bot/delivery/dispatcher.py) sends plain single posts through this path and
everything else through the adapters' synchronous methods.

Rerouting is the same as ``routing.reroute_url``: requests are signed for the real origin
and sent to the routed base URL, so a sandbox sees exactly what the real API would.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from typing import Any

import aiohttp
from requests.utils import select_proxy, should_bypass_proxies

from bot.platforms.base import OutcomeUnknown, PlatformError, TransientError
from bot.platforms.routing import _environment_proxies


def async_session(*, timeout: float, limit: int) -> aiohttp.ClientSession:
    """A pooled session for many accounts at once, in the running event loop.

    No cookies (one session serves thousands of accounts). The environment is read the
    way ``routing.session_for`` reads it for the SDK path — the CA bundle here, proxies
    per publisher (``proxy_for``) — and never through aiohttp's ``trust_env``, which would
    also send ~/.netrc credentials as Basic auth.
    """
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
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


def proxy_for(url: str) -> str | None:
    """The proxy the SDK path would use for ``url`` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY),
    read once per publisher."""
    proxies = _environment_proxies()
    if not proxies or should_bypass_proxies(url, no_proxy=proxies.get("no_proxy")):
        return None
    return select_proxy(url, proxies)


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
