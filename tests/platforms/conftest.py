"""Fixtures for the platform adapter tests.

``tiny_server``: a few-line loopback HTTP server that records what it received and can
misbehave on request (slow answer, close without answering), for the transport layer;
given an ``answer`` it gives that answer to every request instead.
``sandbox``: the real X/Graph sandbox (bot.sandbox.testing), so the real tweepy and
facebook-sdk code paths run over real HTTP.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class TinyServer:
    url: str
    seen: list[Seen] = field(default_factory=list)
    answer: Answer | None = None


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append(
            Seen(self.command, parts.path, parts.query, dict(self.headers.items()), body)
        )
        if parts.path.endswith("/slow"):
            time.sleep(1.0)
        if parts.path.endswith("/close"):
            # Read the request, then hang up without a word: the request WAS delivered.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        answer = self.server.handle.answer
        if answer is not None:
            self.send_response(answer.status)
            for name, value in {"content-type": "application/json", **answer.headers}.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)
            return
        payload = json.dumps({"path": parts.path, "query": parts.query}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        if parts.path.endswith("/cookie"):
            self.send_header("set-cookie", "session=abc; Path=/")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    handle = TinyServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.seen = handle.seen  # type: ignore[attr-defined]
    server.handle = handle  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield handle
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    """One sandbox per test module (starting one takes ~0.7 s); tests make their own
    accounts, so they do not see each other's posts."""
    from bot.sandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle
