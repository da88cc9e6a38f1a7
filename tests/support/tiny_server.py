"""A few-line loopback HTTP server for the transport tests: it records what it received and
can misbehave on request (slow answer, close without answering), or gives a set
``Answer`` to every request."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit


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


class RecordingHandler(BaseHTTPRequestHandler):
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
