"""Alert receivers on 127.0.0.1 for tests: an SMTP server (aiosmtpd) and a webhook
receiver that answers, refuses or hangs on cue. ``running_smtp()`` and
``running_receiver()`` start them for a fixture."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

SECRET = "s3cret-signing-key-0123456789"
HOOK_TOKEN = "T0KEN-in-the-url-path-9f8e7d"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MailInbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


@dataclass
class Mail:
    port: int
    inbox: MailInbox

    @property
    def messages(self) -> list[tuple[list[str], Message]]:
        return self.inbox.messages


@contextmanager
def running_smtp() -> Iterator[Mail]:
    port = free_port()
    inbox = MailInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Mail(port, inbox)
    finally:
        controller.stop()


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1. ``mode``: "ok" (204), "hang" (never answers
    until the test ends), or an HTTP status to answer with."""

    port: int
    mode: str | int = "ok"
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{HOOK_TOKEN}"


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    state = Receiver(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.calls.append((dict(self.headers.items()), body))
            if state.mode == "hang":
                state.released.wait(30)
                return
            status = 204 if state.mode == "ok" else int(state.mode)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
