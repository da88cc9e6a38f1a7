"""Where requests go, for both transports: host rerouting and the environment's proxies
and CA bundle, read the same way for the threaded and the asyncio path.

Rerouting is how Clarion talks to the sandbox (or any stand-in, e.g. a recording proxy)
without a single "if sandbox" branch: requests are built and signed for the platform's
real origin (``https://api.x.com``, ``https://graph.facebook.com``) and only then
sent to the base URL routed for that origin, so signatures are exactly what the real API
would see.

A URL on a platform's former host (tweepy hard-codes ``https://api.twitter.com``) is
moved to the current host (``current_url``) *before* it is signed, so what is signed is
what is sent.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from requests.utils import select_proxy, should_bypass_proxies

# X's API host since 2024 (https://docs.x.com/x-api/introduction: "https://api.x.com/2/").
X_API_ORIGIN = "https://api.x.com"
# X still answers on its former host, and tweepy 4 builds every URL on it
# (client.py ``BaseClient.request``, auth.py ``_get_oauth_url``).
X_LEGACY_ORIGIN = "https://api.twitter.com"
X_ORIGINS = (X_API_ORIGIN, X_LEGACY_ORIGIN)
GRAPH_ORIGIN = "https://graph.facebook.com"
WWW_FACEBOOK_ORIGIN = "https://www.facebook.com"
KNOWN_ORIGINS = (X_API_ORIGIN, X_LEGACY_ORIGIN, GRAPH_ORIGIN, WWW_FACEBOOK_ORIGIN)
# Former host -> current host: Clarion sends (and signs) on the current one.
ORIGIN_ALIASES = {X_LEGACY_ORIGIN: X_API_ORIGIN}

# The routes key for "every other host": Mastodon instances, Bluesky servers and handle
# domains are not known in advance. Under it a request keeps its host as a path prefix,
# ``https://social.example/api/v1/statuses`` -> ``{base}/_host/social.example/api/v1/statuses``,
# so one stand-in (the sandbox) can tell any number of hosts apart on one port.
ANY_HOST = "*"
HOST_PREFIX = "/_host/"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower-cased: how routes are looked up."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def current_url(url: str) -> str:
    """``url`` moved from a platform's former host to its current one
    (``https://api.twitter.com/2/tweets`` -> ``https://api.x.com/2/tweets``); other URLs
    unchanged. Origins are compared exactly, as in ``reroute_url``."""
    current = ORIGIN_ALIASES.get(origin_of(url))
    if current is None:
        return url
    src = urlsplit(url)
    dst = urlsplit(current)
    return urlunsplit((dst.scheme, dst.netloc, src.path, src.query, src.fragment))


def x_routes(api_base_url: str | None) -> dict[str, str] | None:
    """Routes sending both of X's hosts to ``api_base_url`` (None: the real X)."""
    return {origin: api_base_url for origin in X_ORIGINS} if api_base_url else None


def reroute_url(url: str, routes: Mapping[str, str]) -> str:
    """Return ``url`` with its origin replaced by the base URL routed for it.

    Path and query are kept; a base URL's own path becomes a prefix
    (``http://host/prefix`` + ``/2/tweets`` -> ``http://host/prefix/2/tweets``).
    Origins are compared exactly (scheme and host[:port]), never by string prefix,
    so ``https://api.twitter.com.example`` is not rerouted. An origin with no route of
    its own goes to the ``ANY_HOST`` route, if there is one, under ``/_host/<host>``.
    """
    src = urlsplit(url)
    base = routes.get(origin_of(url))
    prefix = ""
    if base is None:
        base = routes.get(ANY_HOST)
        if base is None:
            return url
        prefix = HOST_PREFIX.rstrip("/") + "/" + src.netloc.lower()
    dst = urlsplit(base)
    path = dst.path.rstrip("/") + prefix + (src.path or "/")
    return urlunsplit((dst.scheme, dst.netloc, path, src.query, src.fragment))


def normalise_routes(routes: Mapping[str, str] | None) -> dict[str, str]:
    """``{origin: base URL}`` with origins lower-cased and empty entries dropped; a base
    URL that is not ``http(s)://host[:port][/path]`` is refused, naming it."""
    clean: dict[str, str] = {}
    for origin, base in (routes or {}).items():
        if not base:
            continue
        key = origin if origin == ANY_HOST else origin_of(origin)
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"base URL for {origin} must be http(s)://host[:port][/path]: {base!r}"
            )
        clean[key] = base.rstrip("/")
    return clean


def environment_proxies() -> dict[str, str]:
    """HTTP(S)_PROXY / ALL_PROXY / NO_PROXY as requests' ``proxies`` mapping."""
    found = urllib.request.getproxies()
    proxies = {k: v for k, v in found.items() if k in ("http", "https", "all")}
    if proxies and found.get("no"):
        proxies["no_proxy"] = found["no"]
    return proxies


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY),
    or None: the choice requests makes for the threaded path, made for the asyncio one."""
    proxies = environment_proxies()
    if not proxies or should_bypass_proxies(url, no_proxy=proxies.get("no_proxy")):
        return None
    return select_proxy(url, proxies)


def environment_ca_bundle() -> str | None:
    """REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE): a file, or a directory of hashed
    certificates, that both transports trust instead of the system store (a
    TLS-inspecting proxy's CA)."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
