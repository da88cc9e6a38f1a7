"""The daemon's heartbeat: a row per daemon with the time of its last poll, so other
processes (the console, the CLI, /readyz) can tell whether anything is sending.

A daemon stopped cleanly (Ctrl-C, SIGTERM) writes ``stopped_at`` on its row as it goes,
so they can say "stopped" at once instead of waiting for beats to go missing; one killed
outright leaves only its last beat, which goes stale.

The daemon polls every POLL_INTERVAL_SECONDS (1 s by default); writing a row that often
would be a write a second for nothing, so a beat is written at most every
``EVERY`` per daemon.

Scaled out (bot/delivery/roles.py), every scheduler (active or standing by) and every
worker beats too. The row's ``holder`` says which kind of process it is: ``host:pid`` for
a single-machine daemon, ``scheduler host:pid`` and ``worker host:pid`` for the roles
(``holder`` and ``Member``), so `python main.py status` can list them, and a worker that
died shows as one whose beats stopped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
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


class Kind(StrEnum):
    """What kind of process writes a heartbeat row."""

    DAEMON = "daemon"  # the single-machine daemon (`run`, `run --role all`)
    SCHEDULER = "scheduler"
    WORKER = "worker"


ROLE_KINDS = (Kind.SCHEDULER, Kind.WORKER)


def holder(kind: Kind, name: str) -> str:
    """The heartbeat row's ``holder`` for a process of ``kind`` named ``name`` (host:pid)."""
    return name if kind is Kind.DAEMON else f"{kind} {name}"


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
                update(DaemonHeartbeat)
                .where(DaemonHeartbeat.holder == holder)
                .values(beat_at=now, stopped_at=None)
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


def stopped(sessions: sessionmaker[Session], holder: str, now: datetime) -> None:
    """Record that ``holder`` stopped cleanly at ``now`` (nothing is sending from it).

    Like a beat, a failed write is logged and forgotten: the stop goes on, and the row's
    last beat goes stale instead."""
    with _lock:
        _last.get(sessions, {}).pop(holder, None)
    try:
        with sessions() as session:
            session.execute(
                update(DaemonHeartbeat)
                .where(DaemonHeartbeat.holder == holder)
                .values(stopped_at=now)
            )
            session.commit()
    except SQLAlchemyError:
        logger.warning("could not record that the daemon stopped; its heartbeat goes stale")


def latest(session: Session) -> datetime | None:
    """When any daemon or scheduler last polled (None: never); a worker's beat says only
    that the worker is alive."""
    value: datetime | None = session.scalar(
        select(func.max(DaemonHeartbeat.beat_at)).where(
            ~DaemonHeartbeat.holder.startswith(f"{Kind.WORKER} ")
        )
    )
    return value


@dataclass(frozen=True)
class Pulse:
    """One process's last beat, and when it stopped if it stopped cleanly."""

    beat_at: datetime
    stopped_at: datetime | None
    holder: str  # which process (``holder``)


# What plans posts: a single-machine daemon, or (scaled out) a scheduler. A worker sends
# only what a scheduler hands it, and a `--role web` process writes no beat.
SCHEDULING = (Kind.DAEMON, Kind.SCHEDULER)


def pulse(
    session: Session, now: datetime, live_within: timedelta, kinds: tuple[Kind, ...] = SCHEDULING
) -> Pulse | None:
    """How the processes of ``kinds`` stand, as one pulse (None: none ever beat here).

    One still beating (not stopped, a beat within ``live_within`` of ``now``) is the
    answer whenever there is one, so a standby scheduler counts as running though the
    active one stopped after its last beat. Otherwise the newest beat of any: stopped (it
    says when) or silent (its beat says how long ago).

    Single-machine daemons hold the database's daemon lock, one at a time, so only the
    newest of their rows can be alive: an older one (a daemon killed before the last one
    started) never answers for the newest, which may have stopped since."""
    rows = session.execute(
        select(
            DaemonHeartbeat.holder, DaemonHeartbeat.beat_at, DaemonHeartbeat.stopped_at
        ).order_by(DaemonHeartbeat.beat_at.desc())
    ).all()
    of_kinds: list[Pulse] = []
    seen_daemon = False
    for row in rows:
        kind = kind_of(row.holder)
        if kind not in kinds or (kind is Kind.DAEMON and seen_daemon):
            continue
        seen_daemon = seen_daemon or kind is Kind.DAEMON
        of_kinds.append(Pulse(row.beat_at, row.stopped_at, row.holder))
    for candidate in of_kinds:
        if candidate.stopped_at is None and now - candidate.beat_at <= live_within:
            return candidate
    return of_kinds[0] if of_kinds else None


def kind_of(holder: str) -> Kind:
    """The kind of process a heartbeat row's ``holder`` names (see ``holder``)."""
    kind, _, name = holder.partition(" ")
    return Kind(kind) if name and kind in ROLE_KINDS else Kind.DAEMON


class Standing(StrEnum):
    """How a process stands, judged by its heartbeat row."""

    BEATING = "beating"
    STOPPED = "stopped"  # it said so as it stopped
    SILENT = "silent"  # no beat for ``silent_after``: killed, hung, or its machine lost


def silent_after(poll_interval: float) -> timedelta:
    """How long without a beat means a process has stopped beating: three missed beats
    (a beat is written every ``EVERY``, or every poll when POLL_INTERVAL_SECONDS is
    longer)."""
    return 3 * max(EVERY, timedelta(seconds=poll_interval))


@dataclass(frozen=True)
class Member:
    """One process's heartbeat row, read back: what it is and when it last beat."""

    kind: Kind
    name: str  # host:pid
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None

    def standing(self, now: datetime, silent: timedelta) -> Standing:
        if self.stopped_at is not None:
            return Standing.STOPPED
        return Standing.SILENT if now - self.beat_at > silent else Standing.BEATING

    @classmethod
    def of(cls, row: DaemonHeartbeat) -> Member:
        kind = kind_of(row.holder)
        name = row.holder if kind is Kind.DAEMON else row.holder.partition(" ")[2]
        return cls(kind, name, row.started_at, row.beat_at, row.stopped_at)


def members(session: Session, now: datetime) -> list[Member]:
    """Every process that beat on this database within ``KEEP`` of ``now``, the newest
    beat first."""
    rows = session.scalars(
        select(DaemonHeartbeat)
        .where(DaemonHeartbeat.beat_at >= now - KEEP)
        .order_by(DaemonHeartbeat.beat_at.desc())
    )
    return [Member.of(row) for row in rows]
