"""People (admins only): who can sign in, with what role; invite, change roles, disable,
issue reset links, turn a lost second factor off, require 2FA for approvers and admins.

GET  /console/people
POST /console/people/invite              email, name, role → the link, shown once
POST /console/people/{id}/role           role
POST /console/people/{id}/disable | enable | reset | 2fa-off
POST /console/people/settings            require_2fa
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.console.pages import (
    Form,
    NavItem,
    console_of,
    flash,
    now_of,
    read_form,
    render,
    see_other,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.people import users
from bot.people.users import Link, PeopleError
from bot.storage.models import User
from bot.web.security import Refused

PATH = "/console/people"


@dataclass(frozen=True)
class PersonRow:
    id: int
    email: str
    name: str
    role: str
    state: str
    two_factor: bool
    last_sign_in: str
    is_me: bool


@dataclass(frozen=True)
class LinkShown:
    email: str
    role: str
    url: str
    expires: str
    what: str


def _people(request: Request) -> dict[str, Any]:
    console = console_of(request)
    now = now_of(request)
    me = user_of(request)
    with console.runtime.sessions() as session:
        rows = [
            PersonRow(
                id=u.id,
                email=u.email,
                name=u.name,
                role=u.role,
                state=users.state_of(u, now).value,
                two_factor=u.totp_enabled_at is not None,
                last_sign_in=(
                    f"{u.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if u.last_sign_in_at else "never"
                ),
                is_me=u.id == me.id,
            )
            for u in users.all_users(session)
        ]
        return {"people": rows, "require_2fa": users.require_2fa(session)}


def _page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    link: LinkShown | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "people.html",
        {
            "roles": [r.value for r in Role],
            "errors": errors or {},
            "values": {"email": "", "name": "", "role": Role.EDITOR.value, **(values or {})},
            "link": link,
            **_people(request),
        },
        status=status,
    )


async def people_page(request: Request) -> Response:
    return await run_in_threadpool(_page, request)


def _shown(request: Request, link: Link, what: str) -> LinkShown:
    base = console_of(request).runtime.settings.web_base_url
    return LinkShown(
        email=link.user.email,
        role=link.user.role,
        url=link.url(base),
        expires=f"{link.expires_at:%Y-%m-%d %H:%M} UTC",
        what=what,
    )


def _lifetime(request: Request) -> timedelta:
    return timedelta(hours=console_of(request).runtime.settings.console_invite_hours)


async def invite(request: Request) -> Response:
    form = await read_form(request)
    values = {"email": form["email"].strip(), "name": form["name"].strip(), "role": form["role"]}
    errors: dict[str, str] = {}
    try:
        role = Role.parse(values["role"])
    except ValueError as exc:
        errors["role"] = str(exc)
    try:
        users.normal_email(values["email"])
    except PeopleError as exc:
        errors["email"] = str(exc)
    if errors:
        return await run_in_threadpool(
            lambda: _page(request, errors=errors, values=values, status=400)
        )
    console = console_of(request)
    me = user_of(request)
    now = now_of(request)

    def add() -> Response:
        with console.runtime.sessions() as session:
            try:
                link = users.invite(
                    session,
                    email=values["email"],
                    role=role,
                    name=values["name"],
                    actor=me.email,
                    now=now,
                    lifetime=_lifetime(request),
                )
            except PeopleError as exc:
                return _page(request, errors={"email": str(exc)}, values=values, status=400)
            session.commit()
            shown = _shown(request, link, "Invite")
        # The link is on this page only: it is not put in a cookie or a redirect.
        return _page(request, link=shown)

    return await run_in_threadpool(add)


def _person_change(action: str) -> Any:
    async def change(request: Request) -> Response:
        form = await read_form(request)
        console = console_of(request)
        me = user_of(request)
        now = now_of(request)
        person_id = request.path_params["person_id"]

        def apply() -> tuple[str, LinkShown | None]:
            with console.runtime.sessions() as session:
                person = session.get(User, person_id)
                if person is None:
                    raise Refused(404, "No such person", "They may have been removed.")
                email = person.email
                link = None
                try:
                    text = _apply(session, action, email, form, me.email, now)
                    if action == "reset":
                        made = users.reset_link(
                            session, email, actor=me.email, now=now, lifetime=_lifetime(request)
                        )
                        what = "Reset link" if made.purpose.value == "reset" else "New invite"
                        link = _shown(request, made, what)
                        text = f"{what} made for {email}: send it to them."
                except PeopleError as exc:
                    session.rollback()
                    return f"Not done: {exc}", None
                session.commit()
                return text, link

        text, link = await run_in_threadpool(apply)
        if link is not None:
            return await run_in_threadpool(lambda: _page(request, link=link))
        flash(request, text)
        return see_other(PATH)

    change.__name__ = f"person_{action.replace('-', '_')}"
    return change


def _apply(session: Any, action: str, email: str, form: Form, actor: str, now: datetime) -> str:
    if action == "role":
        try:
            role = Role.parse(form["role"])
        except ValueError as exc:
            raise PeopleError(str(exc)) from None
        users.set_role(session, email, role, actor=actor, now=now)
        return f"{email} is now {role.value}."
    if action == "disable":
        users.disable(session, email, actor=actor, now=now)
        return f"{email} is disabled; their sessions have ended."
    if action == "enable":
        users.enable(session, email, actor=actor, now=now)
        return f"{email} can sign in again."
    if action == "2fa-off":
        users.remove_totp(session, email, actor=actor, now=now)
        return f"Two-step sign-in is off for {email}; they can set it up again."
    if action == "reset":
        return ""
    raise Refused(404, "Page not found", "Check the link.")


async def settings_change(request: Request) -> Response:
    form = await read_form(request)
    console = console_of(request)
    me = user_of(request)
    now = now_of(request)
    wanted = form["require_2fa"] == "on"

    def apply() -> None:
        with console.runtime.sessions() as session:
            users.set_require_2fa(session, wanted, actor=me.email, now=now)
            session.commit()

    await run_in_threadpool(apply)
    flash(
        request,
        "Approvers and admins must now use two-step sign-in."
        if wanted
        else "Two-step sign-in is now optional for everyone.",
    )
    return see_other(PATH)


NAV = [NavItem("People", "/people", Role.ADMIN)]

ROUTES: list[ConsoleRoute] = [
    route("/people", people_page, role=Role.ADMIN, name="people"),
    route("/people/invite", invite, role=Role.ADMIN, methods=("POST",), name="people_invite"),
    route(
        "/people/settings",
        settings_change,
        role=Role.ADMIN,
        methods=("POST",),
        name="people_settings",
    ),
    *(
        route(
            f"/people/{{person_id:int}}/{action}",
            _person_change(action),
            role=Role.ADMIN,
            methods=("POST",),
            name=f"people_{action.replace('-', '_')}",
        )
        for action in ("role", "disable", "enable", "reset", "2fa-off")
    ),
]
