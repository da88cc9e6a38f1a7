"""Serving the campaign pages with uvicorn: in the foreground (`web`) or in a thread
beside the daemon (`run`); and, when METRICS_BIND is set, /healthz, /readyz and /metrics
on their own small server."""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette

from bot.monitoring.health import Checks
from bot.runtime.wiring import Runtime
from bot.settings import local_base_url
from bot.web.app import create_web_app
from bot.web.health import create_health_app

logger = logging.getLogger(__name__)


def web_config(app: Starlette, host: str, port: int, **overrides: Any) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "access_log": False,  # request lines would carry withdraw links' secrets
        # uvicorn's own handlers would bypass LOG_FORMAT: its lines go to ours instead.
        "log_config": None,
        # Behind a TLS proxy on this machine, trust its X-Forwarded-For/Proto so rate
        # limits count real client addresses (uvicorn's default: 127.0.0.1 only).
        "proxy_headers": True,
        "timeout_graceful_shutdown": 3,
        "lifespan": "off",
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


def bind(host: str, port: int) -> socket.socket:
    """Bind in the caller's thread, so a busy port raises OSError at once. ``host`` is an
    IPv4 or IPv6 address (brackets allowed), a host name, or empty for every IPv4
    interface; the address family follows it."""
    name = host.removeprefix("[").removesuffix("]") or None
    family, kind, proto, _, address = socket.getaddrinfo(
        name, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.contextmanager
def serving_web(
    runtime: Runtime, *, host: str | None = None, port: int | None = None, **app_options: Any
) -> Iterator[str]:
    """The campaign pages in a background thread until the block ends; yields the
    address it listens on (http://host:port). Port 0 picks a free port."""
    s = runtime.settings
    sock = bind(host if host is not None else s.web_host, s.web_port if port is None else port)
    try:
        app = create_web_app(runtime, **app_options)
    except BaseException:
        sock.close()
        raise
    with serving(app, sock, "campaign pages") as address:
        yield address


@contextlib.contextmanager
def serving_health(
    runtime: Runtime, host: str, port: int, readiness: Checks | None = None
) -> Iterator[str]:
    """/healthz, /readyz and /metrics alone on ``host:port`` (METRICS_BIND) until the
    block ends; yields the address. Port 0 picks a free port. ``readiness``: what
    /readyz runs (by default the whole of Clarion's checks)."""
    sock = bind(host, port)
    app = create_health_app(runtime, readiness)
    with serving(app, sock, "health and metrics") as address:
        yield address


@contextlib.contextmanager
def serving(app: Starlette, sock: socket.socket, what: str) -> Iterator[str]:
    """``app`` on the bound ``sock`` in a background thread until the block ends (then
    the socket is closed); yields http://host:port."""
    bound_host, bound_port = sock.getsockname()[:2]
    server = uvicorn.Server(web_config(app, bound_host, bound_port))
    # What is loaded by now (settings, SQLAlchemy's mappers, templates, the app: ~120,000
    # objects) lives as long as the process: moved out of the collector's reach, a full
    # collection no longer scans it, which took 250-400 ms on a busy 2-core machine and
    # stalled every request in flight (docs/BENCHMARKS.md, "A share spike").
    gc.collect()
    gc.freeze()
    # uvicorn installs signal handlers only in the main thread; this one is not.
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="clarion-web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {what} did not start on {bound_host}:{bound_port}")
            time.sleep(0.01)
        address = local_base_url(bound_host, bound_port)
        logger.info("%s listening on %s", what, address)
        yield address
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
