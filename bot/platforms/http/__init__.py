"""One transport layer for every platform: what requests look like, where they go, and
how the two transports move them.

- ``messages``: ``HttpRequest``/``HttpResponse``/``Call``, the plain data a platform's
  rules build and read (no I/O);
- ``routes``: the real origins, host rerouting (to the sandbox), the environment's
  proxies and CA bundle;
- ``sync``: the threaded transport on requests (``session_for``, ``carry_out``), also the
  session tweepy and facebook-sdk are given, and its network-failure classes;
- ``aio``: the asyncio transport on aiohttp for bursts (``async_session``,
  ``AsyncSender``), and its network-failure classes.

Transports only move bytes: they never build a platform's request or read its answer.
"""

from bot.platforms.http.aio import (
    NETWORK_FAILURES,
    AsyncSender,
    async_session,
    classify_async_failure,
)
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.http.routes import (
    ANY_HOST,
    GRAPH_ORIGIN,
    HOST_PREFIX,
    KNOWN_ORIGINS,
    WWW_FACEBOOK_ORIGIN,
    X_API_ORIGIN,
    X_LEGACY_ORIGIN,
    X_ORIGINS,
    current_url,
    environment_ca_bundle,
    environment_proxies,
    normalise_routes,
    origin_of,
    proxy_for,
    reroute_url,
    x_routes,
)
from bot.platforms.http.sync import (
    CurrentHostSession,
    HandshakeFailed,
    HostRerouteAdapter,
    carry_out,
    classify_transport_error,
    mount_routes,
    send,
    session_for,
)

__all__ = [
    "ANY_HOST",
    "GRAPH_ORIGIN",
    "HOST_PREFIX",
    "KNOWN_ORIGINS",
    "NETWORK_FAILURES",
    "WWW_FACEBOOK_ORIGIN",
    "X_API_ORIGIN",
    "X_LEGACY_ORIGIN",
    "X_ORIGINS",
    "AsyncSender",
    "Call",
    "CurrentHostSession",
    "HandshakeFailed",
    "HostRerouteAdapter",
    "HttpRequest",
    "HttpResponse",
    "async_session",
    "carry_out",
    "classify_async_failure",
    "classify_transport_error",
    "current_url",
    "environment_ca_bundle",
    "environment_proxies",
    "json_or_none",
    "mount_routes",
    "normalise_routes",
    "origin_of",
    "proxy_for",
    "reroute_url",
    "send",
    "session_for",
    "x_routes",
]
