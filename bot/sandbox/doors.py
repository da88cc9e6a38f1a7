"""A door per platform: its own port in front of the sandbox, which an outage shuts.

Every platform is served on the sandbox's one port, so a connection cannot be refused
for one platform there: which platform a request is for is known only once it has
been sent. A door is a plain TCP relay on a port of its own that carries bytes to the
sandbox's port and back. Point a platform's base URL at its door (X_API_BASE_URL,
FACEBOOK_GRAPH_BASE_URL and FACEBOOK_WWW_BASE_URL) and ``shut`` it, and that platform
is down as a host that cannot be reached is down: new connections are refused
(ECONNREFUSED: nothing was sent), and connections already open are cut, so a request
caught mid-way has an unknown outcome, as in a real outage. After the outage the door
opens again on the same port.

Doors are opened on demand (``POST /_sandbox/doors``): the sandbox's own port stays the
fast path for rehearsals and benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

logger = logging.getLogger(__name__)

_CHUNK = 65536


class Door:
    def __init__(self, platform: str, host: str, target: tuple[str, int]) -> None:
        self.platform = platform
        self.host = host
        self.port = 0  # chosen when first opened, then kept
        self.target = target
        self.down_until: float | None = None  # wall time the outage ends
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._reopen: asyncio.TimerHandle | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._server is not None

    async def open(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._relay, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.down_until = None

    async def shut(self, seconds: float) -> None:
        """Refuse new connections and cut the open ones for ``seconds``, then open again."""
        if self._reopen is not None:
            self._reopen.cancel()
        if self._server is not None:
            self._server.close()  # the listening socket is gone: connects are refused
            self._server = None
        for writer in list(self._links):
            writer.transport.abort()  # RST: what a dying host's connections see
        self._links.clear()
        # The sockets close on a later turn of the loop: let them, so that whoever asked
        # for the outage finds it in place when the answer comes.
        for _ in range(3):
            await asyncio.sleep(0)
        self.down_until = time.time() + seconds
        loop = asyncio.get_running_loop()
        self._reopen = loop.call_later(seconds, lambda: loop.create_task(self._open_again()))
        logger.warning("sandbox: %s is down for %.0f s", self.platform, seconds)

    async def _open_again(self) -> None:
        self._reopen = None
        try:
            await self.open()
        except OSError:
            logger.exception("sandbox: the %s door could not open again", self.platform)
            return
        logger.warning("sandbox: %s is up again", self.platform)

    async def up(self) -> None:
        """End an outage now."""
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        await self.open()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            far_reader, far_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links.update((writer, far_writer))
        try:
            await asyncio.gather(_pipe(reader, far_writer), _pipe(far_reader, writer))
        finally:
            self._links.discard(writer)
            self._links.discard(far_writer)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until the source ends, then end the sink (FIN), as the far side did."""
    try:
        while data := await source.read(_CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            sink.close()


class Doors:
    """The doors of one sandbox, by platform."""

    def __init__(self, host: str, target: tuple[str, int]) -> None:
        self.host = host
        self.target = target
        self._doors: dict[str, Door] = {}

    async def door(self, platform: str) -> Door:
        """The platform's door, opened on first use."""
        door = self._doors.get(platform)
        if door is None:
            door = self._doors[platform] = Door(platform, self.host, self.target)
            await door.open()
        return door

    async def all_up(self) -> None:
        """End every outage now (the sandbox's reset)."""
        for door in self._doors.values():
            await door.up()

    def describe(self) -> dict[str, dict[str, object]]:
        return {
            p: {"url": d.url, "down": not d.is_open, "down_until": d.down_until}
            for p, d in self._doors.items()
        }
