"""One daemon per database.

Two daemons on one database would race for the same posts, so the second refuses to
start. The lock dies with its process (SIGKILL included), so a restart after a crash
never waits for a stale lock: an flock on a file beside a SQLite database, a session
advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text

from bot.storage.engine import sqlite_path

# Any constant works; it only has to be the same for every Clarion process.
PG_ADVISORY_KEY = 0x436C6172  # "Clar"

_memory_locks: dict[str, threading.Lock] = {}


class AlreadyRunning(Exception):
    """Another daemon holds the lock on this database."""


class DaemonLock:
    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._url = url
        self._file: int | None = None
        self._conn: Connection | None = None
        self._memory: threading.Lock | None = None

    @property
    def held(self) -> bool:
        return self._file is not None or self._conn is not None or self._memory is not None

    def still_held(self) -> bool:
        """Is the lock still ours? A PostgreSQL advisory lock dies with its connection
        (a server restart, an idle timeout), and then another daemon may start."""
        if self._conn is None:
            return self.held
        try:
            row = self._conn.execute(
                text(
                    "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND objid = :k"
                ),
                {"k": PG_ADVISORY_KEY},
            ).first()
            self._conn.commit()
        except Exception:
            return False
        return row is not None

    def acquire(self) -> None:
        if self.held:
            return
        path = sqlite_path(self._url)
        if path is not None:
            lock_path = Path(path + ".lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 100).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise AlreadyRunning(
                    f"another Clarion daemon (pid {holder}) is already running on {path}; "
                    "stop it first, or point DATABASE_URL at another database"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            self._file = fd
        elif self._engine.dialect.name == "postgresql":
            conn = self._engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_ADVISORY_KEY})
            if not got.scalar():
                conn.close()
                raise AlreadyRunning(
                    "another Clarion daemon is already running on this PostgreSQL database; "
                    "stop it first, or point DATABASE_URL at another database"
                )
            conn.commit()
            self._conn = conn
        else:
            lock = _memory_locks.setdefault(self._url, threading.Lock())
            if not lock.acquire(blocking=False):
                raise AlreadyRunning("another Clarion daemon is already running in this process")
            self._memory = lock

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_ADVISORY_KEY})
            self._conn.close()
            self._conn = None
        if self._memory is not None:
            self._memory.release()
            self._memory = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
