"""The audit log: every change anyone makes, from the console or the CLI.

``record`` adds a row in the caller's transaction, so the change and its record commit
or roll back together. Actors: a console user's email, or ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.orm import Session

from bot import spreadsheet
from bot.storage.models import AuditEntry, utcnow

# Keys whose values are never written, whatever a caller passes: a slip must not put a
# secret into a table every admin can read and download.
SECRET_KEYS = frozenset(
    {"password", "password_hash", "token", "token_hash", "secret", "totp_secret", "credentials"}
)


def cli_actor() -> str:
    """The actor name of a command run from a shell: ``cli:<os user>``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: v for k, v in values.items() if k not in SECRET_KEYS}


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit row in ``session``'s transaction (the caller commits)."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor,
        action=action,
        subject=subject,
        before=_clean(before),
        after=_clean(after),
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class Entry:
    """One audit row to add with ``record_many``."""

    actor: str
    action: str
    subject: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def record_many(session: Session, entries: Sequence[Entry]) -> None:
    """Add ``entries`` in ``session``'s transaction as rows in batches, as ``record``
    adds one: for an apply that changes thousands of posts at once."""
    at = utcnow()
    rows = [
        {
            "at": at,
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "before": _clean(entry.before),
            "after": _clean(entry.after),
        }
        for entry in entries
    ]
    for start in range(0, len(rows), 500):
        session.execute(insert(AuditEntry), rows[start : start + 500])


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    action: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[tuple[AuditEntry]]) -> Select[tuple[AuditEntry]]:
        if self.actor:
            query = query.where(AuditEntry.actor == self.actor)
        if self.action:
            # "user" finds user.invite, user.role...; "user.role" finds only that action
            query = query.where(
                (AuditEntry.action == self.action) | AuditEntry.action.startswith(self.action + ".")
            )
        if self.since is not None:
            query = query.where(AuditEntry.at >= self.since)
        if self.until is not None:
            query = query.where(AuditEntry.at < self.until)
        return query


def entries(
    session: Session, where: AuditFilter = AuditFilter(), *, limit: int | None = 200
) -> list[AuditEntry]:
    """Newest first."""
    query = where.apply(select(AuditEntry)).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def actors(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEntry.actor).distinct().order_by(AuditEntry.actor)))


def describe(values: dict[str, Any] | None) -> str:
    """``key=value, ...`` for a page or a CSV cell."""
    if not values:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> tuple[str, str]:
    """(before, after) as text, keeping only what changed when both are given."""
    if before and after:
        keys = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in keys}
        after = {k: v for k, v in after.items() if k in keys}
    return describe(before), describe(after)


CSV_HEADER = ("at_utc", "actor", "action", "subject", "before", "after")


def to_csv(rows: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    writer = spreadsheet.writer(out)
    writer.writerow(CSV_HEADER)
    for row in rows:
        cells = (
            row.at.strftime("%Y-%m-%d %H:%M:%S"),
            row.actor,
            row.action,
            row.subject,
            describe(row.before),
            describe(row.after),
        )
        writer.writerow(cells)
    return out.getvalue()
