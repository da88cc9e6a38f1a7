"""What a platform's rules hand to a transport and get back: plain data, no I/O.

A platform module builds an ``HttpRequest`` (method, URL on the platform's real origin,
headers, body bytes) and a reader for the ``HttpResponse``; a transport (threaded on
requests, asyncio on aiohttp) only moves the bytes. So the same delivery makes the same
request on either path, and the same answer is read into the same result or error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class HttpRequest:
    """One request as the platform's real API would receive it.

    ``url`` is on the real origin (``https://api.twitter.com``...): signatures are made
    over it, and the transport reroutes it to a sandbox or proxy afterwards.
    ``action`` names the call in failure messages ("X publish"); ``idempotent`` says
    whether a request lost after sending may simply be repeated (reads) or may have
    created something (posts).
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    action: str = ""
    idempotent: bool = False


@dataclass(frozen=True)
class HttpResponse:
    """What came back: the status, the raw body and the headers (looked up without regard
    to case: both transports hand over a case-insensitive mapping)."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request and the function that reads its answer: what a transport carries out.

    ``read`` returns the result (e.g. ``Published``) or raises the classified
    ``PlatformError``; network failures, where no answer came, are the transport's to
    classify, from ``request.action`` and ``request.idempotent``.
    """

    request: HttpRequest
    read: Callable[[HttpResponse], T]


def json_or_none(body: bytes) -> Any:
    """The body parsed as JSON, or None when it is empty or not JSON. Never raises."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
