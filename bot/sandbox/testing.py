"""Run a sandbox from tests, demos and benchmarks, and drive its admin API.

with running_sandbox() as sandbox:
    user = sandbox.admin.create_x_user("volunteer1")
    ...  # point tweepy at sandbox.url
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import uvicorn

from bot.sandbox.options import SandboxOptions, admin_headers
from bot.sandbox.server import create_app, uvicorn_config
from bot.sandbox.state import SandboxState

REPO_ROOT = Path(__file__).resolve().parents[2]


class SandboxAdmin:
    """A small client for /_sandbox/ (raises requests.HTTPError on refusals)."""

    def __init__(self, url: str, timeout: float = 10.0, token: str = "") -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers.update(admin_headers(token))

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        if method != "GET" and "json" not in kwargs:
            kwargs["json"] = {}  # the admin API takes only JSON bodies (admin_guard.py)
        response = self.session.request(
            method, f"{self.url}/_sandbox{path}", timeout=self.timeout, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def app(self) -> dict[str, Any]:
        return self._call("GET", "/app")

    def create_x_user(
        self, handle: str, followers: int = 100, name: str | None = None
    ) -> dict[str, Any]:
        body = {"handle": handle, "followers": followers, "name": name}
        return self._call("POST", "/x/users", json=body)

    def x_users(self) -> list[dict[str, Any]]:
        return self._call("GET", "/x/users")

    def x_credentials(self, user_id: str, new_token: bool = False) -> dict[str, Any]:
        method = "POST" if new_token else "GET"
        return self._call(method, f"/x/users/{user_id}/credentials")

    def create_bluesky_account(
        self, handle: str, *, password: str | None = None, followers: int = 100
    ) -> dict[str, Any]:
        body = {"handle": handle, "password": password, "followers": followers}
        return self._call("POST", "/bluesky/accounts", json=body)

    def bluesky_accounts(self) -> list[dict[str, Any]]:
        return self._call("GET", "/bluesky/accounts")

    def bluesky_session(self, actor: str) -> dict[str, Any]:
        """A fresh app-password session for ``actor`` (DID or handle), ready to seal."""
        return self._call("POST", f"/bluesky/accounts/{actor}/session")

    def bluesky_posts(self, actor: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/bluesky/accounts/{actor}/posts")

    def bluesky_counts(self, uri: str, **counts: int) -> dict[str, Any]:
        """Set a post's likeCount, repostCount, replyCount and quoteCount."""
        return self._call("POST", "/bluesky/counts", json={"uri": uri, "counts": counts})

    def bluesky_delete(self, uri: str) -> dict[str, Any]:
        return self._call("POST", "/bluesky/delete", json={"uri": uri})

    def bluesky_revoke(self, actor: str) -> dict[str, Any]:
        return self._call("POST", f"/bluesky/accounts/{actor}/revoke")

    def bluesky_limits(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "/bluesky/limits", json=changes)

    def bluesky_oauth(
        self, access_lifetime_s: float | None = None, dids: list[str] | None = None
    ) -> dict[str, Any]:
        """The OAuth server's access-token lifetime (set for tokens issued from now on, to
        every account or only ``dids``) and each DID's unspent refresh tokens."""
        if access_lifetime_s is None:
            return self._call("GET", "/bluesky/oauth")
        body: dict[str, Any] = {"access_lifetime_s": access_lifetime_s}
        if dids is not None:
            body["dids"] = dids
        return self._call("POST", "/bluesky/oauth", json=body)

    def create_page(self, name: str, followers: int = 100) -> dict[str, Any]:
        """Delegates to the Graph part's admin route (page_id, page_token, user_token)."""
        body = {"name": name, "followers": followers}
        return self._call("POST", "/facebook/pages", json=body)

    def posts(
        self, platform: str, account_id: str, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        params = {"platform": platform, "account_id": account_id}
        if include_deleted:
            params["include_deleted"] = "1"
        return self._call("GET", "/posts", params=params)

    def timeline(self) -> list[dict[str, Any]]:
        return self._call("GET", "/timeline")

    def mastodon_instance(self, host: str, **settings: Any) -> dict[str, Any]:
        """Make (or change) the instance at ``host``: max_characters, statuses_per_window,
        statuses_window_s."""
        return self._call("POST", "/mastodon/instances", json={"host": host, **settings})

    def create_mastodon_account(
        self, host: str, username: str, followers: int = 100, reuse: bool = False
    ) -> dict[str, Any]:
        """An account on ``host`` (made on first use) with a read+write token:
        id, username, server, access_token. ``reuse``: an account of that name already
        there is given a fresh token instead of being refused."""
        body = {"host": host, "username": username, "followers": followers, "reuse": reuse}
        return self._call("POST", "/mastodon/accounts", json=body)

    def mastodon_statuses(self, host: str, account_id: str) -> list[dict[str, Any]]:
        params = {"host": host, "account_id": account_id}
        return self._call("GET", "/mastodon/statuses", params=params)

    def mastodon_revoke(self, host: str, token: str) -> None:
        self._call("POST", "/mastodon/revoke", json={"host": host, "token": token})

    def revoke(self, platform: str, token: str) -> None:
        self._call("POST", "/revoke", json={"platform": platform, "token": token})

    def set_faults(self, platform: str, **rates: Any) -> dict[str, Any]:
        """E.g. set_faults("x", error_rate=0.1, reset_rate=0.05, timeout_hold_s=2)."""
        return self._call("POST", "/faults", json={"platform": platform, **rates})

    def set_latency(
        self, ms: float, distribution: str = "fixed", platform: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"ms": ms, "distribution": distribution}
        if platform:
            body["platform"] = platform
        return self._call("POST", "/latency", json=body)

    def set_rate_limits(self, **limits: Any) -> dict[str, Any]:
        """Names as in RateLimits (x_posts_per_user=...); reset_counters=True clears windows."""
        return self._call("POST", "/rate-limits", json=limits)

    def storm(self, seconds: float, platform: str = "x") -> dict[str, Any]:
        """Every post answers 429 for ``seconds``."""
        body = {"platform": platform, "seconds": seconds}
        return self._call("POST", "/storm", json=body)

    def door(self, platform: str) -> str:
        """The URL of the platform's door (opened if need be): its own port, which
        ``outage`` shuts."""
        return str(self._call("POST", "/doors", json={"platform": platform})[platform]["url"])

    def outage(self, platform: str, seconds: float) -> dict[str, Any]:
        """Take ``platform`` down for ``seconds`` (0: up again now), through its door."""
        return dict(self._call("POST", "/outage", json={"platform": platform, "seconds": seconds}))

    def script(
        self, platform: str, method: str, path_regex: str, responses: list[dict[str, Any]]
    ) -> dict[str, Any]:
        body = {
            "platform": platform,
            "method": method,
            "path_regex": path_regex,
            "responses": responses,
        }
        return self._call("POST", "/script", json=body)

    def clear_scripts(self) -> None:
        self._call("DELETE", "/script")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock", json={"advance_seconds": seconds})

    def stats(self, clear_peak: bool = False) -> dict[str, Any]:
        """in_flight and peak_in_flight: requests held at once while faults are active."""
        return self._call("POST" if clear_peak else "GET", "/stats")

    def reset(self) -> None:
        self._call("POST", "/reset")


@dataclass
class SandboxHandle:
    url: str
    options: SandboxOptions
    admin: SandboxAdmin
    state: SandboxState | None = None  # only for in-process sandboxes


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_sandbox(
    options: SandboxOptions | None = None, *, fixed_port: bool = False
) -> Iterator[SandboxHandle]:
    """A sandbox in a background thread, stopped on exit.

    By default on a free 127.0.0.1 port; ``fixed_port=True`` keeps ``options.host`` and
    ``options.port`` (the daemon's embedded sandbox). The socket is bound here, in the
    caller's thread, so a busy port raises OSError at once.
    """
    options = options or SandboxOptions()
    if not fixed_port:
        options = dataclasses.replace(options, host="127.0.0.1", port=0)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((options.host, options.port))
    except OSError:
        sock.close()
        raise
    options = dataclasses.replace(options, port=sock.getsockname()[1])
    app = create_app(options)
    # uvicorn installs signal handlers only in the main thread; this one is not.
    server = uvicorn.Server(uvicorn_config(app, options, log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="clarion-sandbox", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start on {options.host}:{options.port}")
            time.sleep(0.01)
        host = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104
        url = f"http://{host}:{options.port}"
        app.state.sandbox.base_url = url
        yield SandboxHandle(
            url, options, SandboxAdmin(url, token=options.admin_token), app.state.sandbox
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def start_sandbox_process(
    port: int, *args: str, timeout: float = 15.0, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m bot.sandbox --port PORT *args`` in a child process, once it answers."""
    # Output goes to a file, not a pipe nobody reads: a full pipe would stall the server.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.sandbox", "--port", str(port), *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/_sandbox/app"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"sandbox exited with {process.returncode}: {output[-2000:]}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"sandbox did not answer on port {port} within {timeout} s")


@contextlib.contextmanager
def sandbox_process(*args: str) -> Iterator[str]:
    """A sandbox in a child process on a free port (``start_sandbox_process``), for the
    ``with`` block: its base URL; stopped after."""
    port = free_port()
    process = start_sandbox_process(port, *args)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
