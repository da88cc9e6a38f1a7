"""The daemon's heartbeat: a row per daemon with the time of its last poll, so other
processes (the console) can tell whether anything is sending.

The daemon polls every POLL_INTERVAL_SECONDS (1 s by default); writing a row that often
would be a write a second for nothing, so a beat is written at most every
``EVERY`` per daemon.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import DaemonHeartbeat

logger = logging.getLogger(__name__)

EVERY = timedelta(seconds=15)
# Eight missed beats is not a slow poll but a daemon that stopped ticking (/readyz and the
# console's attention box both judge by it).
STALE_AFTER = timedelta(minutes=2)
KEEP = timedelta(days=1)
# The last beat written, per database (sessionmaker) and daemon.
_last: WeakKeyDictionary[sessionmaker[Session], dict[str, datetime]] = WeakKeyDictionary()
_lock = threading.Lock()


def beat(sessions: sessionmaker[Session], holder: str, now: datetime) -> bool:
    """Record that ``holder`` (host:pid) polled at ``now``; True when a row was written.

    A failed write is logged and forgotten: a heartbeat must never stop the daemon."""
    with _lock:
        beats = _last.setdefault(sessions, {})
        last = beats.get(holder)
        if last is not None and now - last < EVERY:
            return False
        beats[holder] = now
    try:
        with sessions() as session:
            done = session.execute(
                update(DaemonHeartbeat).where(DaemonHeartbeat.holder == holder).values(beat_at=now)
            )
            if getattr(done, "rowcount", 0) == 0:
                # A new daemon: forget those gone for a day (one row per start otherwise).
                session.execute(delete(DaemonHeartbeat).where(DaemonHeartbeat.beat_at < now - KEEP))
                session.add(DaemonHeartbeat(holder=holder, started_at=now, beat_at=now))
            session.commit()
    except SQLAlchemyError:
        logger.warning("could not write the daemon's heartbeat; trying again next poll")
        with _lock:
            _last.get(sessions, {}).pop(holder, None)
        return False
    return True


def latest(session: Session) -> datetime | None:
    """When any daemon last polled (None: never)."""
    value: datetime | None = session.scalar(select(func.max(DaemonHeartbeat.beat_at)))
    return value
