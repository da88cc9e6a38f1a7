"""--state FILE: keep the sandbox's world in a SQLite file across restarts.

One JSON snapshot row, rewritten at most once a second while something changed, and
once more on shutdown. Simple and crash-tolerant enough for rehearsals: at worst the
last second of changes is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

SAVE_INTERVAL_S = 1.0


def _connect(path: str) -> sqlite3.Connection:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1),"
        " saved_at REAL NOT NULL, data TEXT NOT NULL)"
    )
    return connection


def load(path: str) -> dict[str, Any] | None:
    if not Path(path).exists():
        return None
    with _connect(path) as connection:
        row = connection.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
    return json.loads(row[0]) if row else None


def save(path: str, data: dict[str, Any]) -> None:
    payload = json.dumps(data, separators=(",", ":"))
    connection = _connect(path)
    try:
        with connection:
            connection.execute(
                "INSERT INTO snapshot (id, saved_at, data) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET saved_at = excluded.saved_at,"
                " data = excluded.data",
                (time.time(), payload),
            )
    finally:
        connection.close()


def restore(state: SandboxState, path: str) -> bool:
    data = load(path)
    if data is None:
        return False
    state.restore(data)
    logger.info("restored sandbox state from %s", path)
    return True


def flush(state: SandboxState, path: str) -> None:
    state.dirty = False
    save(path, state.snapshot())


async def autosave(state: SandboxState, path: str) -> None:
    """Runs for the server's lifetime; cancelled at shutdown (then flush once more)."""
    while True:
        await asyncio.sleep(SAVE_INTERVAL_S)
        if state.dirty:
            try:
                flush(state, path)
            except (OSError, sqlite3.Error):
                logger.exception("could not save sandbox state to %s", path)
