"""Engines and sessions. SQLite gets WAL and a busy timeout so the CLI and the daemon
can write at the same time, and synchronous=FULL because a "sending" mark that a power
cut could undo would let a post go out twice; PostgreSQL works as it is."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


# Only the user Clarion runs as may read the database: it holds sealed tokens, supporters'
# sealed emails and the audit log.
PRIVATE_FILE_MODE = 0o600


def create_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with mode 0600 unless it exists. SQLite would create its
    database file following the umask (0644 by default), and gives the ``-wal`` and
    ``-shm`` files it makes beside it the database file's own permissions (os_unix.c,
    ``findCreateFileMode``), so creating the file first keeps all three private. An empty
    file is a valid empty SQLite database. A missing folder is left for SQLite to report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except (FileExistsError, FileNotFoundError):
        return
    os.close(fd)


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        # A "file:" URI (uri=true) names its file with options: let SQLite read it.
        if path is not None and not (make_url(url).database or "").startswith("file:"):
            create_private_file(path)
        engine = create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def sqlite_path(url: str) -> str | None:
    """The real path of the file behind a SQLite URL (any driver spelling), or None for
    memory or another database. Two spellings of one file must give one lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return os.path.realpath(database)
