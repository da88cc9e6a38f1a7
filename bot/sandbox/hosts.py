"""Any other host on the sandbox's one port: Mastodon instances, Bluesky servers.

Clarion's transports send a host with no route of its own to ``{SANDBOX_URL}/_host/<host>``
(``bot.platforms.http.ANY_HOST``). Here the prefix is taken off again, the host is put in
the ASGI scope as ``scope["sandbox_host"]`` (and as the ``host`` header, which is what the
real server would have seen), and the request goes to the first stand-in that serves that
host. ``SERVICES`` names them in order; each is a module with ``serves(state, host) ->
bool`` and an ASGI ``handle(state, scope, receive, send)``. A host nobody serves gets a
404 saying so, as a name that does not resolve would fail for real.
"""

from __future__ import annotations

import functools
import importlib
import json
from types import ModuleType
from typing import Any

from starlette.types import Receive, Scope, Send

from bot.platforms.http import HOST_PREFIX

# Bluesky first: it serves its own named hosts (bsky.social, plc.directory, handle
# domains it knows); Mastodon takes any other host as an instance.
SERVICES = ("bot.sandbox.bluesky.service", "bot.sandbox.mastodon.service")


def split_host_path(path: str) -> tuple[str, str] | None:
    """``/_host/social.example/api/v1/x`` -> ``("social.example", "/api/v1/x")``."""
    if not path.startswith(HOST_PREFIX):
        return None
    rest = path[len(HOST_PREFIX) :]
    host, slash, inner = rest.partition("/")
    if not host:
        return None
    return host.lower(), slash + inner if slash else "/"


@functools.cache
def _services() -> tuple[ModuleType, ...]:
    """The stand-ins that exist, found once: a failed import is not cached by Python, and
    retrying it on every request cost ~80 µs each (measured)."""
    found = []
    for name in SERVICES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
    return tuple(found)


async def dispatch(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a ``/_host/...`` request as its host would."""
    split = split_host_path(scope["path"])
    if split is None:
        await _not_found(send, "a /_host/ request names no host")
        return
    host, path = split
    inner = dict(scope)
    inner["path"] = path
    inner["raw_path"] = path.encode()
    inner["sandbox_host"] = host
    headers = [(k, v) for k, v in scope.get("headers", []) if k != b"host"]
    inner["headers"] = [(b"host", host.encode()), *headers]
    for service in _services():
        if service.serves(state, host):
            await service.handle(state, inner, receive, send)
            return
    await _not_found(send, f"the sandbox serves no host named {host!r}")


async def _not_found(send: Send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
