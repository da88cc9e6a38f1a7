"""The threaded transport, on requests: one pooled session per adapter, host rerouting,
default timeouts, and the classification of network failures.

tweepy and facebook-sdk are given a session from ``session_for``; the calls whose request
we build ourselves (``HttpRequest``) go through ``send``/``carry_out``. The rewrite to the
routed base URL happens in the transport adapter, i.e. after requests has prepared the
request and OAuth 1.0a has signed it over the original URL.
"""

from __future__ import annotations

import http.cookiejar
import logging
from collections.abc import Mapping
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter
from requests.utils import should_bypass_proxies
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ClosedPoolError,
    ConnectTimeoutError,
    MaxRetryError,
    NewConnectionError,
)
from urllib3.poolmanager import PoolManager, ProxyManager

from bot.platforms.base import OutcomeUnknown, PlatformError, TransientError
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse
from bot.platforms.http.routes import (
    ANY_HOST,
    current_url,
    environment_ca_bundle,
    environment_proxies,
    normalise_routes,
    reroute_url,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class HandshakeFailed(NewConnectionError):
    """The TLS handshake did not complete, so not one byte of the request was written.

    urllib3 reports a handshake failure and a TLS error while reading the answer alike
    (``SSLError``); only the first is harmless to repeat. Raised as a kind of
    ``NewConnectionError`` it travels the path of a refused connection (requests'
    ``ConnectionError`` over ``MaxRetryError``), which ``classify_transport_error`` reads
    as "not sent".
    """


class HandshakeTellingHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that tells a failed handshake from a failure after sending."""

    def connect(self) -> None:
        try:
            super().connect()
        except (NewConnectionError, ConnectTimeoutError):
            raise  # the TCP connection itself failed: already "not sent"
        except OSError as exc:
            # ssl.SSLError (bad certificate, wrong protocol, alert), a timeout or a reset
            # during the handshake: http.client writes the request only after connect().
            # (urllib3 closes the connection; closing it here would also forget that a
            # proxy's tunnel was up, and the failure would read as the proxy's.)
            raise HandshakeFailed(self, f"TLS handshake failed ({type(exc).__name__})") from exc


class HandshakeTellingHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = HandshakeTellingHTTPSConnection


_POOL_CLASSES = {"http": HTTPConnectionPool, "https": HandshakeTellingHTTPSConnectionPool}


class HostRerouteAdapter(HTTPAdapter):
    """Sends requests for the routed origins to their base URLs, and applies a
    default timeout to every request that came without one (tweepy never passes
    one; facebook-sdk passes ``None`` unless asked)."""

    def __init__(
        self,
        routes: Mapping[str, str] | None = None,
        *,
        timeout: float | None = 30.0,
        pool_maxsize: int = 32,
    ) -> None:
        self.routes = normalise_routes(routes)
        self.default_timeout = timeout
        # pool_connections is the number of per-host pools kept; pool_maxsize the
        # connections kept per host, which bounds useful concurrency per origin.
        super().__init__(pool_connections=8, pool_maxsize=pool_maxsize)

    def init_poolmanager(self, *args: object, **kwargs: object) -> None:
        super().init_poolmanager(*args, **kwargs)  # type: ignore[arg-type]
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: object) -> PoolManager:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS manager brings its own connection classes; an HTTP(S) proxy's CONNECT
        # tunnel is part of connect(), so a failed tunnel is "not sent" as well.
        if isinstance(manager, ProxyManager):
            manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        if timeout is None:
            timeout = self.default_timeout
        if request.url and self.routes:
            target = reroute_url(request.url, self.routes)
            if target != request.url:
                request = request.copy()
                request.url = target
        # Proxies were chosen for the original host (or snapshotted by session_for, which
        # turns off requests' per-call environment scan): apply NO_PROXY to the host we
        # actually connect to.
        no_proxy = proxies.get("no_proxy") if proxies else None
        if proxies and request.url and should_bypass_proxies(request.url, no_proxy=no_proxy):
            proxies = {}
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


class CurrentHostSession(requests.Session):
    """A session that moves URLs on a platform's former host to its current host
    (``routes.current_url``) before the request is prepared, i.e. before requests applies
    ``auth`` (tweepy's OAuth 1.0a): tweepy builds ``https://api.twitter.com`` URLs, and
    what is signed must be the URL that is sent."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if isinstance(request.url, str):
            request.url = current_url(request.url)
        return super().prepare_request(request)


def mount_routes(
    session: requests.Session,
    routes: Mapping[str, str] | None,
    *,
    pool_size: int = 32,
    timeout: float | None = 30.0,
) -> requests.Session:
    """Mount one rerouting adapter on ``session`` for every origin (and as the
    default for http/https, so unrouted hosts still get the default timeout)."""
    adapter = HostRerouteAdapter(routes, timeout=timeout, pool_maxsize=pool_size)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for origin in adapter.routes:
        if origin != ANY_HOST:
            session.mount(origin, adapter)
    return session


def session_for(
    routes: dict[str, str] | None, *, pool_size: int = 32, timeout: float = 30
) -> requests.Session:
    """A pooled session safe to share across threads and accounts.

    Cookies are refused: API calls never need them, and one session serves
    thousands of accounts, so no state may leak from one account's call to another.
    """
    session = CurrentHostSession()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    # With trust_env on, requests re-reads the whole environment (proxies, CA bundle)
    # and ~/.netrc on every call: ~0.8 ms of CPU under the GIL per request, measured,
    # which caps a 10,000-account release. Read the environment once instead.
    session.trust_env = False
    session.proxies.update(environment_proxies())
    ca_bundle = environment_ca_bundle()
    if ca_bundle:
        session.verify = ca_bundle
    return mount_routes(session, routes, pool_size=pool_size, timeout=timeout)


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the server.

    requests' HTTPAdapter retries nothing (``Retry(0, read=False)``): a failure to
    connect (refused, DNS, connect timeout) exhausts the retries and arrives as a
    ``MaxRetryError`` whose reason is a ``ConnectTimeoutError``/``NewConnectionError``;
    read-phase failures (reset, remote closed, broken pipe while sending) are re-raised
    as ``ProtocolError``/``OSError``. A failed TLS handshake arrives as ``HandshakeFailed``,
    a kind of ``NewConnectionError``; any other TLS error (requests' ``SSLError``) came
    after the handshake, while sending or reading, and may have reached the platform.
    """
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.ProxyError):
        return True
    if isinstance(exc, requests.ConnectionError):
        cause = exc.args[0] if exc.args else None
        if isinstance(cause, ClosedPoolError):
            return True
        return isinstance(cause, MaxRetryError) and isinstance(cause.reason, ConnectTimeoutError)
    return False


def _handshake_failure(exc: requests.RequestException) -> str | None:
    """What failed the TLS handshake (e.g. ``SSLCertVerificationError``), when one did."""
    cause = exc.args[0] if exc.args else None
    if isinstance(cause, MaxRetryError) and isinstance(cause.reason, HandshakeFailed):
        reason = cause.reason.__cause__
        return type(reason).__name__ if reason is not None else "unknown"
    return None


def classify_transport_error(
    exc: requests.RequestException, *, action: str, idempotent: bool = False
) -> PlatformError:
    """Classify a network failure (no HTTP status was received).

    Before sending -> TransientError(not_sent=True): nothing happened, try again (an
    outage is waited out until the post's grace runs out).
    After sending (read timeout, reset, truncated body) -> OutcomeUnknown for a
    write, since the post may exist; for an idempotent read it is just transient.
    Anything else -> TransientError (the ledger caps retries).
    The message names the exception type only: its text may hold a URL with a
    token in its query (Graph puts access_token there).
    """
    kind = type(exc).__name__
    handshake = _handshake_failure(exc)
    if handshake is not None:
        kind = f"TLS handshake: {handshake}"
    if _not_sent(exc):
        return TransientError(f"{action}: could not connect ({kind})", code=kind, not_sent=True)
    maybe_sent = isinstance(
        exc,
        requests.ReadTimeout
        | requests.ConnectionError
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    )
    if maybe_sent:
        if idempotent:
            return TransientError(f"{action}: no answer ({kind})", code=kind)
        return OutcomeUnknown(
            f"{action}: request sent but no answer came back ({kind}); it may have succeeded",
            code=kind,
        )
    return TransientError(f"{action}: network error ({kind})", code=kind)


def send(session: requests.Session, request: HttpRequest) -> HttpResponse:
    """Send ``request`` as it is (the session reroutes it) and hand back the answer;
    a network failure is raised classified (``classify_transport_error``)."""
    try:
        answer = session.request(
            request.method, request.url, data=request.body, headers=dict(request.headers)
        )
    except requests.RequestException as exc:
        raise classify_transport_error(
            exc, action=request.action, idempotent=request.idempotent
        ) from None
    return HttpResponse(answer.status_code, answer.content, answer.headers)


def carry_out(session: requests.Session, call: Call[T]) -> T:
    """Send the call's request and read its answer with the call's own reader."""
    return call.read(send(session, call.request))
