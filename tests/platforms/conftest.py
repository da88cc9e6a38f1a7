"""Fixtures for the platform adapter tests.

``tiny_server``: a few-line loopback HTTP server that records what it received and can
misbehave on request (slow answer, close without answering), for the transport layer;
given an ``answer`` it gives that answer to every request instead.
``sandbox``: the real X/Graph sandbox (bot.sandbox.testing), so the real tweepy and
facebook-sdk code paths run over real HTTP."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.tiny_server import (
    RecordingHandler,
    TinyServer,
)


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
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
