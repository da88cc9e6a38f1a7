"""Injected trouble: latency, 5xx, timeouts, resets, lost responses, scripted answers.

Dropping a connection without any answer cannot be done through ASGI messages: an app
that raises or returns without responding makes uvicorn send a 500. So the server hands
us the connection's asyncio transport (uvicorn's ``send`` is a bound method of its
request cycle, which holds ``transport``; see ``server._transport_of``) and we close or
abort it ourselves.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from bot.sandbox.options import PLATFORMS

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

logger = logging.getLogger(__name__)


def transport_of(send: Any) -> asyncio.BaseTransport | None:
    """The connection's transport, to drop or reset it without an answer.

    uvicorn's ``send`` is a bound method of its per-request cycle object (httptools and
    h11 implementations alike), which keeps the connection's ``transport``.
    """
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


Inner = Callable[[Scope, Receive, Send], Awaitable[None]]

# "pass" answers as the platform would: a script can let some requests through before
# the one it breaks (part 2 of a thread).
ACTIONS = ("drop", "reset", "accept_then_drop", "accept_then_error", "timeout", "pass")

# X's body for a 503 (problem-details shape shared by all v2 errors).
X_5XX_BODY = {
    "title": "Service Unavailable",
    "detail": "Service Unavailable",
    "type": "about:blank",
    "status": 503,
}
# An XRPC server error (https://atproto.com/specs/xrpc#error-responses).
XRPC_5XX_BODY = {"error": "InternalServerError", "message": "Internal Server Error"}
_trace_ids = itertools.count(1)


def graph_5xx_body() -> dict[str, Any]:
    """Graph's transient error (code 2), as in the Graph API error reference."""
    return {
        "error": {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "is_transient": True,
            "code": 2,
            "fbtrace_id": f"Sbx{next(_trace_ids):09d}",
        }
    }


@dataclass
class Script:
    id: int
    platform: str
    method: str
    pattern: re.Pattern[str]
    responses: deque[dict[str, Any]] = field(default_factory=deque)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "platform": self.platform,
            "method": self.method,
            "path_regex": self.pattern.pattern,
            "remaining": len(self.responses),
        }


class ScriptBook:
    """Scripted responses, consumed in order by the requests that match them."""

    def __init__(self) -> None:
        self._scripts: list[Script] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._scripts)

    def add(
        self, platform: str, method: str, path_regex: str, responses: list[dict[str, Any]]
    ) -> Script:
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {list(PLATFORMS)}")
        if not responses:
            raise ValueError("responses must not be empty")
        for response in responses:
            if "action" in response:
                if response["action"] not in ACTIONS:
                    raise ValueError(f"action must be one of {ACTIONS}")
            elif not isinstance(response.get("status"), int):
                raise ValueError("each response needs an integer 'status' or an 'action'")
        try:
            pattern = re.compile(path_regex)
        except re.error as exc:
            raise ValueError(f"bad path_regex: {exc}") from exc
        script = Script(next(self._ids), platform, method.upper(), pattern, deque(responses))
        with self._lock:
            self._scripts.append(script)
        return script

    def take(self, platform: str, method: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            for script in self._scripts:
                if (
                    script.platform == platform
                    and script.method in (method, "*")
                    and script.pattern.search(path)
                ):
                    response = script.responses.popleft()
                    if not script.responses:
                        self._scripts.remove(script)
                    return response
        return None

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [s.describe() for s in self._scripts]

    def clear(self) -> None:
        with self._lock:
            self._scripts.clear()


# connection-level faults --------------------------------------------------------------
async def drop(transport: asyncio.BaseTransport | None) -> None:
    """Close the connection cleanly (FIN) without a response: RemoteDisconnected."""
    if transport is None:
        raise RuntimeError("no transport: cannot drop the connection on this server")
    transport.close()
    await _let_connection_lost_run()


async def reset(transport: asyncio.BaseTransport | None) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0): ConnectionResetError."""
    if transport is None:
        raise RuntimeError("no transport: cannot reset the connection on this server")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # pragma: no cover - platform dependent
            logger.debug("SO_LINGER not settable; reset degrades to a close")
    abort = getattr(transport, "abort", None)
    if abort is not None:
        abort()
    else:  # pragma: no cover
        transport.close()
    await _let_connection_lost_run()


async def _drain(receive: Receive) -> None:
    """Read the request body before closing: closing a socket with unread data makes
    the kernel send RST instead of FIN, turning a clean drop into a reset."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _let_connection_lost_run() -> None:
    # connection_lost runs on a later loop iteration; once it has, uvicorn marks the
    # request cycle disconnected and does not try to send its own 500.
    for _ in range(3):
        await asyncio.sleep(0)


async def _discarding_send(message: Message) -> None:
    return None


def latency_s(state: SandboxState, platform: str) -> float:
    config = state.faults[platform]
    mean = config.latency_ms / 1000.0
    if mean <= 0:
        return 0.0
    if config.latency_distribution == "exponential":
        return state.rng.expovariate(1.0 / mean)
    if config.latency_distribution == "normal":
        return max(0.0, state.rng.gauss(mean, mean / 4))
    return mean


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    all_headers = [
        (b"content-type", b"application/json; charset=utf-8"),
        (b"content-length", str(len(payload)).encode()),
    ]
    all_headers.extend(headers or [])
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": payload})


async def run_with_faults(
    state: SandboxState,
    platform: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    transport: asyncio.BaseTransport | None,
    inner: Inner,
    x_headers: Callable[[], list[tuple[bytes, bytes]]],
) -> None:
    """Serve one API request through scripts, random faults and latency."""
    script = state.scripts.take(platform, scope["method"], scope["path"]) if state.scripts else None
    if script is not None:
        await _run_script(script, platform, scope, receive, send, transport, inner, x_headers)
        return
    config = state.faults[platform]
    delay = latency_s(state, platform)
    if delay:
        await asyncio.sleep(delay)  # never time.sleep: thousands of requests wait at once
    roll = state.rng.random()
    if roll < config.error_rate:
        await _send_5xx(send, platform, x_headers)
        return
    roll -= config.error_rate
    if roll < config.timeout_rate:
        await _drain(receive)
        await asyncio.sleep(config.timeout_hold_s)
        await drop(transport)
        return
    roll -= config.timeout_rate
    if roll < config.reset_rate:
        await reset(transport)
        return
    roll -= config.reset_rate
    if roll < config.accept_then_drop_rate:
        await inner(scope, receive, _discarding_send)
        await drop(transport)
        return
    roll -= config.accept_then_drop_rate
    if roll < config.accept_then_error_rate:
        await inner(scope, receive, _discarding_send)
        await _send_5xx(send, platform, x_headers)
        return
    await inner(scope, receive, send)


async def _send_5xx(
    send: Send, platform: str, x_headers: Callable[[], list[tuple[bytes, bytes]]]
) -> None:
    if platform == "x":
        await send_json(send, 503, X_5XX_BODY, x_headers())
    elif platform == "bluesky":
        await send_json(send, 500, XRPC_5XX_BODY)
    elif platform == "mastodon":
        # What a Mastodon instance behind its proxy answers when Puma is overloaded.
        await send_json(send, 503, {"error": "Service Unavailable"})
    else:
        await send_json(send, 500, graph_5xx_body())


async def _run_script(
    script: dict[str, Any],
    platform: str,
    scope: Scope,
    receive: Receive,
    send: Send,
    transport: asyncio.BaseTransport | None,
    inner: Inner,
    x_headers: Callable[[], list[tuple[bytes, bytes]]],
) -> None:
    action = script.get("action")
    if action == "pass":
        await inner(scope, receive, send)
    elif action == "drop":
        await _drain(receive)
        await drop(transport)
    elif action == "reset":
        await reset(transport)
    elif action == "timeout":
        await _drain(receive)
        await asyncio.sleep(float(script.get("seconds", state_timeout_default)))
        await drop(transport)
    elif action == "accept_then_drop":
        await inner(scope, receive, _discarding_send)
        await drop(transport)
    elif action == "accept_then_error":
        await inner(scope, receive, _discarding_send)
        await _send_5xx(send, platform, x_headers)
    else:
        headers = {k.lower(): v for k, v in (script.get("headers") or {}).items()}
        if platform == "x":
            # Every X response carries the rate-limit headers; a script can remove one
            # by setting it to null (to rehearse a 429 that lacks x-rate-limit-reset).
            for name, value in x_headers():
                headers.setdefault(name.decode(), value.decode())
        raw = [(k.encode(), str(v).encode()) for k, v in headers.items() if v is not None]
        raw = [h for h in raw if h[0] not in (b"content-type", b"content-length")]
        body = script.get("body", {})
        if isinstance(body, str):
            payload = body.encode()
            content_type = headers.get("content-type") or "text/plain; charset=utf-8"
        else:
            payload = json.dumps(body).encode()
            content_type = headers.get("content-type") or "application/json; charset=utf-8"
        start = [
            (b"content-type", str(content_type).encode()),
            (b"content-length", str(len(payload)).encode()),
            *raw,
        ]
        await send({"type": "http.response.start", "status": script["status"], "headers": start})
        await send({"type": "http.response.body", "body": payload})


state_timeout_default = 30.0
