"""An httpx transport with Clarion's routes: for SDKs that bring their own httpx client.

The atproto SDK's ``Client`` sends on httpx (``atproto_client.request.Request`` passes its
keyword arguments to ``httpx.Client``). Given ``transport=RoutedTransport(routes)``, it
builds every request for the real host (``https://bsky.social/xrpc/...``) and this
transport moves it to the routed base URL (the sandbox's ``/_host/bsky.social/...``),
as ``HostRerouteAdapter`` does for requests. The environment's proxies and CA bundle are
applied to the host actually reached (``proxy_for``, ``environment_ca_bundle``), the
choice the other two transports make, so the client must be built with
``trust_env=False`` (httpx would otherwise mount its own proxy transports ahead of this).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Mapping

import httpx

from bot.platforms.http.routes import (
    environment_ca_bundle,
    normalise_routes,
    proxy_for,
    reroute_url,
)


def tls_context() -> ssl.SSLContext:
    """The system's trust store, or the environment's CA bundle (file or directory)."""
    bundle = environment_ca_bundle()
    if bundle and os.path.isdir(bundle):
        return ssl.create_default_context(capath=bundle)
    return ssl.create_default_context(cafile=bundle or None)


class RoutedTransport(httpx.BaseTransport):
    """Reroutes each request by ``routes``, then sends it directly or through the proxy
    the environment names for the host reached (one pooled transport per proxy)."""

    def __init__(self, routes: Mapping[str, str] | None = None) -> None:
        self.routes = normalise_routes(routes)
        self._tls = tls_context()
        self._lock = threading.Lock()
        self._transports: dict[str | None, httpx.HTTPTransport] = {}

    def _transport(self, proxy: str | None) -> httpx.HTTPTransport:
        with self._lock:
            transport = self._transports.get(proxy)
            if transport is None:
                transport = httpx.HTTPTransport(verify=self._tls, proxy=proxy)
                self._transports[proxy] = transport
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        target = reroute_url(str(request.url), self.routes) if self.routes else str(request.url)
        if target != str(request.url):
            request.url = httpx.URL(target)
            # The Host header names the host reached, as requests sets it for the
            # rerouted URL; the original host stays in the path (``/_host/<host>``).
            request.headers["Host"] = request.url.netloc.decode("ascii")
        return self._transport(proxy_for(target)).handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            transport.close()
