"""The sandbox server: X API v2, Facebook Graph and the admin API on one port."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from bot.platforms.http import HOST_PREFIX
from bot.sandbox import admin, hosts, persistence
from bot.sandbox.faults import run_with_faults, transport_of
from bot.sandbox.options import SandboxOptions
from bot.sandbox.state import SandboxState
from bot.sandbox.x import api as x_api
from bot.sandbox.x import oauth_flow

logger = logging.getLogger(__name__)

# Graph API paths always start with a version (/v25.0/...); the adapters reroute
# graph.facebook.com and www.facebook.com here unchanged.
_GRAPH_PATH = re.compile(r"/v[0-9]")


class SandboxApp(Starlette):
    """A Starlette app whose X API routes bypass Starlette's router (the hot path)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await super().__call__(scope, receive, send)
            return
        state: SandboxState = self.state.sandbox
        path = scope["path"]
        if path.startswith(HOST_PREFIX):
            await hosts.dispatch(state, scope, receive, send)
            return
        platform = "facebook" if _GRAPH_PATH.match(path) else "x"
        inner = self._x_api if platform == "x" and path.startswith("/2/") else self._starlette
        config = state.faults[platform]
        if state.scripts or config.active:
            state.in_flight += 1
            state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
            try:
                await run_with_faults(
                    state,
                    platform,
                    scope,
                    receive,
                    send,
                    transport_of(send),
                    inner,
                    lambda: x_api.peek_headers(state, scope["method"], path),
                )
            finally:
                state.in_flight -= 1
            return
        await inner(scope, receive, send)

    async def _x_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        await x_api.handle(self.state.sandbox, scope, receive, send)

    async def _starlette(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def _graph_routes() -> list[BaseRoute]:
    try:
        module = importlib.import_module("bot.sandbox.graph.api")
    except ImportError:
        logger.warning("bot.sandbox.graph.api not available: no Graph routes")
        return []
    routes: list[BaseRoute] = module.routes()
    return routes


def create_app(options: SandboxOptions | None = None) -> SandboxApp:
    options = options or SandboxOptions()
    state = SandboxState(options)
    if options.state_file:
        persistence.restore(state, options.state_file)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        saver = None
        if options.state_file:
            saver = asyncio.create_task(persistence.autosave(state, options.state_file))
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
                persistence.flush(state, options.state_file)  # type: ignore[arg-type]

    app = SandboxApp(
        routes=[*admin.routes(), *oauth_flow.routes(), *_graph_routes()],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    return app


def uvicorn_config(app: SandboxApp, options: SandboxOptions, **overrides: Any) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "host": options.host,
        "port": options.port,
        "http": "httptools",
        "loop": "uvloop",
        "log_level": options.log_level,
        "access_log": False,  # thousands of lines a second under load
        "backlog": 16384,  # the capacity test opens 10,000 connections at once
        "timeout_keep_alive": 30,
        # Injected timeouts hold requests for up to timeout_hold_s; do not let them hold
        # a shutdown (state is still saved: lifespan shutdown runs after this).
        "timeout_graceful_shutdown": 3,
        "lifespan": "on",
    }
    settings.update(overrides)
    return uvicorn.Config(app, **settings)


def serve(options: SandboxOptions) -> None:
    """Run the sandbox in the foreground until interrupted."""
    app = create_app(options)
    uvicorn.Server(uvicorn_config(app, options)).run()
