"""What ``/readyz`` answers: is this Clarion able to do its work?

Four checks, each a small dict in the JSON, and a reason for each that fails:

- ``database``: a ``SELECT 1`` answers. A failure is named by its class only: a driver's
  message can carry the database's host and user.
- ``migrations``: the database's Alembic revision is this code's head. The head is read
  once; the database's revision every ``migrations_every`` seconds, not every request.
- ``scheduler``: the age of the newest daemon heartbeat (bot/delivery/heartbeat.py): a
  daemon writes one at least every ``heartbeat.EVERY`` while it polls, so a beat older
  than ``heartbeat.STALE_AFTER`` means no daemon is ticking on this database, in this
  process or another.
- ``platforms``: whether each platform answered at the last attempt this process made
  (``Metrics.reach``, updated by the deliverer): no network call is made here.

``/healthz`` checks nothing: the process answers.

A scaled-out scheduler or worker (bot/delivery/roles.py) answers for itself instead
(``RoleReadiness``): the database and its migrations as above, then the role's own
``Condition``s — a worker's lease, its dispatcher and job worker; a scheduler's loop —
and, in the body, ``role`` and ``state`` (``active`` or ``standby`` for a scheduler). A
standby scheduler is ready: standing by is its work, and an orchestrator that took a 503
for "restart me" would restart the one process ready to take over. Neither role checks
the platforms: an X outage is no reason to restart a worker (/metrics has
``clarion_platform_reachable``), nor does a worker judge the other processes' heartbeats.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery import heartbeat
from bot.monitoring.metrics import Metrics
from bot.storage.migrate import current_revisions, head_revisions
from bot.storage.models import utcnow


class Check(StrEnum):
    DATABASE = "database"
    MIGRATIONS = "migrations"
    SCHEDULER = "scheduler"
    PLATFORMS = "platforms"


@dataclass(frozen=True)
class Report:
    """The checks as JSON-able dicts, and one line per failed check. ``about``: what the
    process is (a scaled-out role's ``role`` and ``state``), first in the JSON."""

    checks: dict[str, dict[str, Any]]
    reasons: list[str] = field(default_factory=list)
    about: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "unready",
            **self.about,
            "reasons": list(self.reasons),
            "checks": self.checks,
        }


class Checks(Protocol):
    """What /readyz runs: ``Readiness`` (``all`` and ``web``) or ``RoleReadiness``."""

    def check(self) -> Report: ...


@dataclass(frozen=True)
class Condition:
    """One thing a scaled-out role needs, as it stands now: ``detail`` goes in the JSON,
    ``reason`` (why it fails, what to do) in ``reasons`` when not ``ok``."""

    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


class RoleState(Protocol):
    """A scheduler or a worker, as its readiness sees it (bot/delivery/roles.py)."""

    @property
    def role(self) -> str: ...

    @property
    def state(self) -> str: ...

    def conditions(self) -> list[Condition]: ...


class Readiness:
    """The readiness checks on one database, for one process's platforms.

    ``poll_interval``: POLL_INTERVAL_SECONDS (a slow poll writes slower beats);
    ``platforms``: the names to report even before any attempt on them."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        metrics: Metrics,
        *,
        platforms: Iterable[str] = (),
        poll_interval: float = 1.0,
        migrations_every: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.metrics = metrics
        self.platforms = tuple(platforms)
        self.stale_after = max(heartbeat.STALE_AFTER, timedelta(seconds=3 * poll_interval))
        self.migrations_every = migrations_every
        self.clock = clock
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._head: frozenset[str] | None = None
        self._revision: tuple[float, frozenset[str]] | None = None

    def check(self) -> Report:
        """Run the checks (blocking: it reads the database)."""
        checks: dict[str, dict[str, Any]] = {}
        reasons: list[str] = []
        now = self.clock()
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
                checks[Check.DATABASE] = {"ok": True}
                checks[Check.MIGRATIONS] = self._migrations(session, reasons)
                checks[Check.SCHEDULER] = self._scheduler(session, now, reasons)
        except SQLAlchemyError as exc:
            checks[Check.DATABASE] = {"ok": False, "error": type(exc).__name__}
            reasons.append(f"database: did not answer ({type(exc).__name__})")
            for name in (Check.MIGRATIONS, Check.SCHEDULER):
                checks.setdefault(name, {"ok": None, "note": "not checked: no database"})
        checks[Check.PLATFORMS] = self._platforms(now, reasons)
        return Report(checks, reasons)

    def _migrations(self, session: Session, reasons: list[str]) -> dict[str, Any]:
        with self._lock:
            if self._head is None:
                self._head = head_revisions()
            head = self._head
            cached = self._revision
            if cached is None or self.monotonic() - cached[0] >= self.migrations_every:
                cached = (self.monotonic(), current_revisions(session.connection()))
                self._revision = cached
        current = cached[1]
        ok = current == head
        if not ok:
            reasons.append(
                f"migrations: the database is at {_revisions(current)}, this code's schema "
                f"is {_revisions(head)}: restart Clarion to migrate it (every command "
                "migrates on start), or run the version that migrated it"
            )
        return {"ok": ok, "database": sorted(current), "code": sorted(head)}

    def _scheduler(self, session: Session, now: datetime, reasons: list[str]) -> dict[str, Any]:
        pulse = heartbeat.pulse(session, now, self.stale_after)
        limit = self.stale_after.total_seconds()
        if pulse is None:
            reasons.append(
                "scheduler: no daemon has ever ticked on this database; start one with "
                "`python main.py run`"
            )
            return {"ok": False, "last_tick": None, "stale_after_seconds": limit}
        last = pulse.beat_at
        age = max(0.0, (now - last).total_seconds())
        ok = age <= limit and pulse.stopped_at is None
        if pulse.stopped_at is not None:
            reasons.append(
                f"scheduler: the daemon was stopped at {pulse.stopped_at.isoformat()}; "
                "start it with `python main.py run`"
            )
        elif not ok:
            reasons.append(
                f"scheduler: the last tick was {age:.0f} s ago (more than {limit:.0f} s): "
                "no daemon is posting"
            )
        return {
            "ok": ok,
            "last_tick": last.isoformat(),
            "last_tick_age_seconds": round(age, 1),
            "stale_after_seconds": limit,
        }

    def _platforms(self, now: datetime, reasons: list[str]) -> dict[str, Any]:
        seen = self.metrics.reach()
        out: dict[str, Any] = {}
        ok = True
        for name in sorted({*self.platforms, *seen}):
            reach = seen.get(name)
            if reach is None:
                out[name] = {"reachable": None, "last_attempt": None}
                continue
            out[name] = {
                "reachable": reach.reachable,
                "last_attempt": reach.at.isoformat(),
                "last_attempt_age_seconds": round(max(0.0, (now - reach.at).total_seconds()), 1),
            }
            if not reach.reachable:
                ok = False
                out[name]["error"] = reach.detail
                reasons.append(f"platforms: {name} did not answer at the last attempt")
        return {"ok": ok, **out}


def _revisions(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "no revision (never migrated)"


class RoleReadiness(Readiness):
    """/readyz of a scaled-out scheduler or worker: the database answers and is at this
    code's migrations, and each of the role's own ``conditions()`` holds."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        metrics: Metrics,
        part: RoleState,
        *,
        migrations_every: float = 60.0,
    ) -> None:
        super().__init__(sessions, metrics, migrations_every=migrations_every)
        self.part = part

    def check(self) -> Report:
        checks: dict[str, dict[str, Any]] = {}
        reasons: list[str] = []
        try:
            with self.sessions() as session:
                session.execute(text("SELECT 1"))
                checks[Check.DATABASE] = {"ok": True}
                checks[Check.MIGRATIONS] = self._migrations(session, reasons)
        except SQLAlchemyError as exc:
            checks[Check.DATABASE] = {"ok": False, "error": type(exc).__name__}
            reasons.append(f"database: did not answer ({type(exc).__name__})")
            checks.setdefault(Check.MIGRATIONS, {"ok": None, "note": "not checked: no database"})
        for condition in self.part.conditions():
            checks[condition.name] = {"ok": condition.ok, **condition.detail}
            if not condition.ok:
                reasons.append(f"{condition.name}: {condition.reason}")
        about = {"role": str(self.part.role), "state": str(self.part.state)}
        return Report(checks, reasons, about)
