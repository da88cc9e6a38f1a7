"""The audit log (admins only): who did what, when, to what, before → after; filters by
actor, action and date; the same rows as CSV.

GET /console/audit        ?actor=&action=&since=YYYY-MM-DD&until=YYYY-MM-DD
GET /console/audit.csv    the same filters, every matching row
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.console.pages import NavItem, console_of, in_zone, render
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.people import audit
from bot.people.audit import AuditFilter

PAGE_ROWS = 200


@dataclass(frozen=True)
class Shown:
    at: str
    actor: str
    action: str
    subject: str
    before: str
    after: str


FIRST_YEAR, LAST_YEAR = 1970, 9998


def _day(raw: str, field: str, zone: ZoneInfo, errors: dict[str, str]) -> datetime | None:
    """A date typed in the filter, as the start of that day in ``zone``."""
    if not raw.strip():
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        errors[field] = f"{raw!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-07"
        return None
    # The day after, and the day in UTC, must be dates too (9999-12-31 has no next day).
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        errors[field] = f"{raw!r} is out of range: give a date from {FIRST_YEAR} to {LAST_YEAR}"
        return None
    return datetime.combine(day, time(), tzinfo=zone)


def _filters(request: Request) -> tuple[AuditFilter, dict[str, str], dict[str, str]]:
    q = request.query_params
    values = {k: q.get(k, "").strip() for k in ("actor", "action", "since", "until")}
    zone = ZoneInfo(console_of(request).runtime.settings.timezone)
    errors: dict[str, str] = {}
    since = _day(values["since"], "since", zone, errors)
    until = _day(values["until"], "until", zone, errors)
    where = AuditFilter(
        actor=values["actor"],
        action=values["action"],
        since=since,
        # "until 7 Dec" includes the whole of 7 December
        until=until + timedelta(days=1) if until else None,
    )
    return where, values, errors


def _read(request: Request) -> dict[str, Any]:
    where, values, errors = _filters(request)
    zone = console_of(request).runtime.settings.timezone
    with console_of(request).runtime.sessions() as session:
        rows = audit.entries(session, where, limit=PAGE_ROWS + 1)
        shown = [
            Shown(
                at=in_zone(r.at, zone, "%Y-%m-%d %H:%M:%S"),
                actor=r.actor,
                action=r.action,
                subject=r.subject,
                before=before,
                after=after,
            )
            for r in rows[:PAGE_ROWS]
            for before, after in [audit.changes(r.before, r.after)]
        ]
        return {
            "rows": shown,
            "more": len(rows) > PAGE_ROWS,
            "actors": audit.actors(session),
            "values": values,
            "errors": errors,
            "zone": zone,
            "query": request.url.query,
        }


async def audit_page(request: Request) -> Response:
    context = await run_in_threadpool(_read, request)
    return render(request, "audit.html", context, status=400 if context["errors"] else 200)


async def audit_csv(request: Request) -> Response:
    where, _, errors = _filters(request)
    if errors:
        return render(
            request,
            "message.html",
            {"title": "Those filters cannot be read", "text": " ".join(errors.values())},
            status=400,
        )

    def read() -> str:
        with console_of(request).runtime.sessions() as session:
            return audit.to_csv(audit.entries(session, where, limit=None))

    body = await run_in_threadpool(read)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="clarion-audit.csv"'},
    )


NAV = [NavItem("Audit", "/audit", Role.ADMIN)]

ROUTES: list[ConsoleRoute] = [
    route("/audit", audit_page, role=Role.ADMIN, name="audit"),
    route("/audit.csv", audit_csv, role=Role.ADMIN, name="audit_csv"),
]
