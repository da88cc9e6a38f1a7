"""The console's home: what goes out next, and the posts by day or by week.

GET /console/            "Next up", then the week (or ?view=day) in the campaign's zone
                         ?date=YYYY-MM-DD picks the day or week; filters as the list

Days are cut at midnight in the zone shown (the campaign's, or the TIMEZONE setting for
all campaigns), so a post at 00:30 on the night the clocks change is on the right day.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns import embargo
from bot.campaigns.schedules.times import lenient
from bot.campaigns.status import PostStatus, post_status
from bot.console.pages import NavItem, now_of, reader_of, render, runtime_of, user_of
from bot.console.posts import Filters, entry, filter_choices, zone_name
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.storage.models import Post

logger = logging.getLogger(__name__)

NEXT_UP = 8
VIEWS = ("week", "day")
UPCOMING = frozenset(
    {
        PostStatus.AWAITING_APPROVAL,
        PostStatus.SCHEDULED,
        PostStatus.RETRYING,
        PostStatus.SENDING,
    }
)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Midnight at the start of ``day`` in ``zone`` (the first moment after it where
    a zone skips midnight itself)."""
    return lenient(datetime(day.year, day.month, day.day), zone)


def period(anchor: date, view: str) -> tuple[date, int]:
    """The first day and the number of days shown: the day itself, or its Monday–Sunday
    week (ISO 8601)."""
    if view == "day":
        return anchor, 1
    return anchor - timedelta(days=anchor.weekday()), 7


def _anchor(raw: str, today: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else today
    except ValueError:
        return today


def calendar_days(
    session: Session,
    filters: Filters,
    zone: ZoneInfo,
    first: date,
    days: int,
    reader: embargo.Reader,
    now: datetime,
) -> list[dict[str, Any]]:
    start = day_start(first, zone)
    end = day_start(first + timedelta(days=days), zone)
    query = filters.query(select(Post)).where(Post.scheduled_at >= start, Post.scheduled_at < end)
    by_day: dict[date, list[dict[str, Any]]] = {first + timedelta(days=i): [] for i in range(days)}
    for post in session.scalars(query.order_by(Post.scheduled_at, Post.id)):
        if not filters.keep(post):
            continue
        shown = entry(post, zone.key, reader, now)
        by_day[shown["when"].date()].append(shown)
    return [{"day": day, "entries": entries} for day, entries in by_day.items()]


def next_up(
    session: Session, filters: Filters, zone: str, now: datetime, reader: embargo.Reader
) -> list[dict[str, Any]]:
    """The next posts still to go out, soonest first."""
    query = filters.query(select(Post)).where(Post.scheduled_at >= now - timedelta(hours=1))
    found: list[dict[str, Any]] = []
    for post in session.scalars(query.order_by(Post.scheduled_at, Post.id).limit(200)):
        if post_status(post) in UPCOMING and filters.keep(post):
            found.append(entry(post, zone, reader, now))
            if len(found) == NEXT_UP:
                break
    return found


async def calendar_page(request: Request) -> Response:
    filters = Filters.of(request)
    runtime = runtime_of(request)
    view = request.query_params.get("view", "week")
    view = view if view in VIEWS else "week"
    now = now_of(request)
    reader = reader_of(request)

    def load() -> dict[str, Any]:
        with runtime.sessions() as session:
            zone_key = zone_name(session, filters.campaign, runtime.settings.timezone)
            zone = ZoneInfo(zone_key)
            today = now.astimezone(zone).date()
            anchor = _anchor(request.query_params.get("date", ""), today)
            first, days = period(anchor, view)
            step = timedelta(days=days)

            def link(**changes: str) -> str:
                params = {"view": view, "date": anchor.isoformat(), **filters.params(), **changes}
                return "/console/?" + urlencode(params)

            last = first + timedelta(days=days - 1)
            title = (
                f"{first:%A} {first.day} {first:%B %Y}"
                if view == "day"
                else f"Week of {first.day} {first:%B %Y}"
            )
            return {
                "zone": zone_key,
                "view": view,
                "title": title,
                "range": f"{first.day} {first:%b} – {last.day} {last:%b %Y}",
                "today": today,
                "days": calendar_days(session, filters, zone, first, days, reader, now),
                "next_up": next_up(session, filters, zone_key, now, reader),
                "prev_link": link(date=(anchor - step).isoformat()),
                "next_link": link(date=(anchor + step).isoformat()),
                "today_link": link(date=today.isoformat()),
                "day_link": link(view="day"),
                "week_link": link(view="week"),
                "filters": filters,
                "anchor": anchor,
                "can_compose": user_of(request).role.allows(Role.EDITOR),
                **filter_choices(session),
            }

    return render(request, "calendar.html", await run_in_threadpool(load))


NAV = [NavItem("Calendar", "/", Role.VIEWER)]

ROUTES: list[ConsoleRoute] = [
    route("/", calendar_page, role=Role.VIEWER, name="calendar"),
]
