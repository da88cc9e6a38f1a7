"""A small loopback server for the Graph half of the sandbox, and facebook-sdk pointed at it.

It mounts graph_api.routes() at the root and admin_routes() under /_sandbox/facebook, the
way the sandbox server does, with a hand-set clock so tests can move sandbox time.
facebook-sdk is rerouted by a requests transport adapter that rewrites
https://graph.facebook.com and https://www.facebook.com to the loopback URL, keeping the
path and query (the production rerouting is bot/platforms/http/routes.py).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import facebook
import requests
import uvicorn
from requests.adapters import HTTPAdapter
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.sandbox.graph.api import admin_routes, routes
from bot.sandbox.graph.state import GraphState

GRAPH_VERSION = "v25.0"
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
HOSTS = ("https://graph.facebook.com", "https://www.facebook.com")


class HandClock:
    """Protocol time that moves only when a test says so, engagement with it (rate 1);
    wall time is real."""

    def __init__(self, start: float = START) -> None:
        self.t = start

    def time(self) -> float:
        return self.t

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def engagement_age(self, since: float) -> float:
        return max(0.0, self.t - since)

    def wall(self) -> float:
        return time.time()

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Options:
    """The SandboxOptions fields the Graph half reads."""

    seed: int = 7
    fb_app_id: str = "100000000000001"
    fb_app_secret: str = "test-fb-secret"
    duplicate_window_s: float = 24 * 3600
    extra: dict[str, Any] = field(default_factory=dict)


class RerouteAdapter(HTTPAdapter):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        for host in HOSTS:
            if url.startswith(host + "/"):
                request.url = self.base_url + url[len(host) :]
        return super().send(request, *args, **kwargs)


def rerouted_session(base_url: str) -> requests.Session:
    session = requests.Session()
    adapter = RerouteAdapter(base_url)
    for host in HOSTS:
        session.mount(host, adapter)
    return session


@dataclass
class GraphSandbox:
    url: str
    state: GraphState
    clock: HandClock
    session: requests.Session
    dirty: list[bool] = field(default_factory=list)

    def graph(self, token: str | None = None, version: str = GRAPH_VERSION) -> facebook.GraphAPI:
        # GraphAPI rejects "25.0" in its constructor: build it bare, then set the version.
        api = facebook.GraphAPI(access_token=token, timeout=5, session=self.session)
        api.version = version
        return api

    def admin(self, method: str, path: str, **body: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/facebook{path}", json=body, timeout=5)

    def new_page(self, name: str = "Clean Air Now", followers: int = 1000) -> dict[str, Any]:
        answer = self.admin("POST", "/pages", name=name, followers=followers)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def raw(self, method: str, path: str, **params: Any) -> requests.Response:
        """A plain HTTP call, to look at statuses and headers facebook-sdk hides."""
        if method == "GET":
            return requests.get(self.url + path, params=params, timeout=5)
        return requests.request(method, self.url + path, data=params, timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_SERVER: tuple[str, SimpleNamespace] | None = None
_SERVER_LOCK = threading.Lock()


def graph_server() -> tuple[str, SimpleNamespace]:
    """One loopback server per test process (a daemon thread), shared by every test."""
    global _SERVER
    with _SERVER_LOCK:
        if _SERVER is None:
            holder = SimpleNamespace(fb=None, clock=None, dirty=[])
            holder.mark_dirty = lambda: holder.dirty.append(True)
            app = Starlette(routes=[*routes(), Mount("/_sandbox/facebook", routes=admin_routes())])
            app.state.sandbox = holder
            port = _free_port()
            config = uvicorn.Config(
                app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
            )
            server = uvicorn.Server(config)
            threading.Thread(target=server.run, daemon=True).start()
            deadline = time.time() + 10
            while not server.started:
                if time.time() > deadline:
                    raise RuntimeError("graph test server did not start")
                time.sleep(0.01)
            _SERVER = (f"http://127.0.0.1:{port}", holder)
        return _SERVER
