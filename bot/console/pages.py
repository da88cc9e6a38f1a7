"""What every console view shares: who is signed in, rendering a page (with the nav, the
"needs attention" box, the CSRF token, the campaign picker and flash messages), reading
a form after its CSRF check, redirects.

The signed-in person comes from the ``clarion_console`` cookie: a random secret whose
SHA-256 names a server-side session row (bot.people.users.resume_session), so signing
out or disabling a person ends the session at once. The cookie is HttpOnly,
SameSite=Lax, Secure when served over https, and scoped to /console.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from bot.campaigns import embargo
from bot.console.roles import Role
from bot.people import users
from bot.runtime.wiring import Runtime
from bot.storage.models import Campaign
from bot.web.security import RateLimiter, checked_form, csrf_token

HERE = Path(__file__).parent
COOKIE = "clarion_console"
COOKIE_PATH = "/console"
FLASH_KEY = "console_flash"
CAMPAIGN_KEY = "console_campaign"
ALL_CAMPAIGNS = ""


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in person, as views see them (``request.state.user``)."""

    id: int
    email: str
    name: str
    role: Role
    two_factor: bool = False
    must_set_up_2fa: bool = False

    @property
    def label(self) -> str:
        return self.name or self.email


@dataclass(frozen=True)
class NavItem:
    label: str
    path: str  # under /console
    role: Role


@dataclass(frozen=True)
class Attention:
    """One line of the "needs attention" box: what is wrong and the action to take."""

    text: str
    action: str
    href: str


@dataclass
class Console:
    """The console's shared state, reached through ``console_of(request)``."""

    runtime: Runtime
    templates: Jinja2Templates
    sessions_policy: users.SessionPolicy
    lock_policy: users.LockPolicy
    address_limiter: RateLimiter
    # Wrong passwords for emails that have no account, counted like an account's lock.
    unknown_emails: RateLimiter
    secure_cookies: bool
    nav: list[NavItem] = field(default_factory=list)
    # The "needs attention" lines for a signed-in person (bot.console.attention).
    attention: Callable[[Session, datetime, ConsoleUser], list[Attention]] | None = None


def console_of(request: Request) -> Console:
    console: Console = request.scope["clarion.console"]
    return console


def runtime_of(request: Request) -> Runtime:
    return console_of(request).runtime


def now_of(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def user_of(request: Request) -> ConsoleUser:
    """The signed-in person in a role-checked view."""
    user: ConsoleUser | None = getattr(request.state, "user", None)
    if user is None:
        raise LookupError("user_of() is only for views that declare a role")
    return user


def base_url_of(request: Request) -> str:
    return console_of(request).runtime.settings.web_base_url.rstrip("/")


# -- the signed-in person ----------------------------------------------------------------


@dataclass
class _Seen:
    user: ConsoleUser | None
    pending_code: bool  # password given, second factor not yet
    attention: list[Attention]
    campaigns: list[tuple[str, str]]


def _look(request: Request, secret: str | None) -> _Seen:
    console = console_of(request)
    now = now_of(request)
    with console.runtime.sessions() as session:
        campaigns = [
            (c.slug, c.title or c.slug)
            for c in session.scalars(select(Campaign).order_by(Campaign.slug))
        ]
        if not secret:
            return _Seen(None, False, [], campaigns)
        row = users.resume_session(session, secret, now, console.sessions_policy)
        if row is None:
            session.commit()
            return _Seen(None, False, [], campaigns)
        u = row.user
        user = ConsoleUser(
            id=u.id,
            email=u.email,
            name=u.name,
            role=Role(u.role),
            two_factor=u.totp_enabled_at is not None,
            must_set_up_2fa=users.must_set_up_2fa(session, u),
        )
        pending = row.pending_second_factor
        attention = []
        if not pending and console.attention is not None:
            attention = console.attention(session, now, user)
        session.commit()
        if pending:
            return _Seen(None, True, [], campaigns)
        return _Seen(user, False, attention, campaigns)


async def current_user(request: Request) -> ConsoleUser | None:
    """The signed-in person (None when signed out), looked up once per request."""
    if hasattr(request.state, "seen"):
        seen: _Seen = request.state.seen
        return seen.user
    secret = request.cookies.get(COOKIE)
    picked = request.query_params.get("campaign")
    if picked is not None:
        request.session[CAMPAIGN_KEY] = picked
    seen = await run_in_threadpool(_look, request, secret)
    request.state.seen = seen
    return seen.user


def cookie_secret(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def awaiting_code(request: Request) -> bool:
    """A password was right and the second factor is still to come."""
    seen: _Seen | None = getattr(request.state, "seen", None)
    return bool(seen and seen.pending_code)


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    console = console_of(request)
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(console.sessions_policy.absolute.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",  # links from email open the console signed in; POSTs stay same-site
        secure=console.secure_cookies,
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH)


def picked_campaign(request: Request) -> str:
    """The campaign picker's choice: a slug, or "" for all campaigns."""
    value = request.session.get(CAMPAIGN_KEY, ALL_CAMPAIGNS)
    return value if isinstance(value, str) else ALL_CAMPAIGNS


# -- rendering ---------------------------------------------------------------------------


def flash(request: Request, text: str) -> None:
    """A one-line confirmation shown on the next page rendered."""
    queued = request.session.get(FLASH_KEY)
    queued = queued if isinstance(queued, list) else []
    request.session[FLASH_KEY] = [*queued, text][-5:]


def _nav_for(request: Request, user: ConsoleUser | None) -> list[dict[str, Any]]:
    if user is None:
        return []
    here = request.url.path
    items = []
    for item in console_of(request).nav:
        if not user.role.allows(item.role):
            continue
        href = "/console" + item.path
        current = here == href or (item.path != "/" and here.startswith(href + "/"))
        items.append({"label": item.label, "href": href, "current": current})
    return items


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    """A console page: ``name`` under bot/console/templates, extending base.html."""
    seen: _Seen | None = getattr(request.state, "seen", None)
    user = seen.user if seen else None
    flashes = request.session.pop(FLASH_KEY, None) or []
    ctx = {
        "user": user,
        "nav": _nav_for(request, user),
        "attention": seen.attention if seen else [],
        "campaigns": seen.campaigns if seen else [],
        "picked_campaign": picked_campaign(request),
        "flashes": flashes if isinstance(flashes, list) else [],
        "base_url": base_url_of(request),
        **(context or {}),
    }
    response = console_of(request).templates.TemplateResponse(
        request, name, ctx, status_code=status
    )
    assert isinstance(response, HTMLResponse)
    return response


def message(
    request: Request, status: int, title: str, text: str, *, retry_after: float | None = None
) -> HTMLResponse:
    """A plain console page saying what happened and what to do."""
    response = render(request, "message.html", {"title": title, "text": text}, status)
    if retry_after is not None:
        response.headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    return response


def see_other(url: str) -> RedirectResponse:
    """Redirect after a POST (303: the browser follows with a GET)."""
    return RedirectResponse(url, status_code=303)


class Form:
    """A submitted form: ``form["name"]`` is the first value ("" when absent);
    ``form.all("name")`` every value (checkboxes, repeated fields)."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def __getitem__(self, name: str) -> str:
        return (self.fields.get(name) or [""])[0]

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name) or [])


async def read_form(request: Request) -> Form:
    """The form, once its CSRF token matches the session's; else Refused (403)."""
    return Form(await checked_form(request))


# -- templates ---------------------------------------------------------------------------


def in_zone(value: datetime | None, zone: str, fmt: str = "%a %d %b %Y %H:%M") -> str:
    """A UTC time shown in a campaign's zone, the zone named: "Mon 07 Dec 2026 18:00
    Europe/London"."""
    if value is None:
        return ""
    return f"{value.astimezone(ZoneInfo(zone)).strftime(fmt)} {zone}"


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{round(seconds / 60)} min ago"
    if seconds < 2 * 86400:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything a volunteer typed is escaped
        undefined=jinja2.StrictUndefined,
    )
    env.globals["csrf_token"] = csrf_token
    env.filters["in_zone"] = in_zone
    return Jinja2Templates(env=env)


def policies_from(runtime: Runtime) -> tuple[users.SessionPolicy, users.LockPolicy]:
    s = runtime.settings
    return (
        users.SessionPolicy(
            idle=timedelta(minutes=s.console_idle_minutes),
            absolute=timedelta(hours=s.console_session_hours),
        ),
        users.LockPolicy(failures=s.console_lock_failures, minutes=s.console_lock_minutes),
    )


def reader_of(request: Request) -> embargo.Reader:
    """The signed-in person as an embargo reader: approvers and admins read embargoed
    statements before their time; others only their own."""
    user = user_of(request)
    return embargo.Reader(user.email, sees_all=user.role.allows(Role.APPROVER))
