"""Signing in and out, invite and reset links, and the optional second factor.

GET/POST /console/sign-in            email + password (per-account lock, per-address limit)
GET/POST /console/sign-in/code       the 6-digit code, when the person has 2FA on
POST     /console/sign-out
GET/POST /console/invite/{secret}    set name and password from an invite link
GET/POST /console/reset/{secret}     set a new password from a reset link
GET/POST /console/account/2fa        set up (or see) the second factor
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.console.pages import (
    awaiting_code,
    clear_session_cookie,
    console_of,
    cookie_secret,
    flash,
    message,
    now_of,
    read_form,
    render,
    see_other,
    set_session_cookie,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.people import users
from bot.people.users import LinkPurpose, PeopleError, SignIn
from bot.storage.models import User
from bot.web.security import CSRF_FIELD, client_address

logger = logging.getLogger(__name__)

HOME = "/console/"
SIGN_IN_EMAIL_KEY = "console_sign_in_email"


def _safe_next(raw: str) -> str:
    """Only a path inside the console: never another site (an open redirect)."""
    if raw.startswith("/console/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return HOME


def _until(moment: datetime, now: datetime) -> str:
    minutes = max(1, round((moment - now).total_seconds() / 60))
    return f"{moment:%H:%M} UTC (in {minutes} min)"


def _fresh_csrf(request: Request) -> None:
    """A new CSRF token at every change of who is signed in."""
    request.session.pop(CSRF_FIELD, None)


async def sign_in_page(request: Request) -> Response:
    if request.state.user is not None:
        return see_other(HOME)
    email = request.session.pop(SIGN_IN_EMAIL_KEY, "")
    return render(
        request,
        "sign_in.html",
        {
            "email": email if isinstance(email, str) else "",
            "error": "",
            "next": _safe_next(request.query_params.get("next", "")),
        },
    )


async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    console = console_of(request)
    email, password = form["email"].strip(), form["password"]
    target = _safe_next(form["next"])
    context: dict[str, Any] = {"email": email, "next": target, "error": ""}
    address = client_address(request)
    wait = console.address_limiter.hit(address)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        context["error"] = (
            f"Too many sign-in attempts from your network. Try again in {minutes} min."
        )
        response = render(request, "sign_in.html", context, status=429)
        response.headers["retry-after"] = str(max(1, round(wait)))
        return response
    if not email or not password:
        context["error"] = "Enter your email and your password."
        return render(request, "sign_in.html", context, status=400)
    now = now_of(request)

    def attempt() -> tuple[SignIn, str | None, datetime | None, bool]:
        with console.runtime.sessions() as session:
            result = users.authenticate(session, email, password, now=now, lock=console.lock_policy)
            secret = None
            if result.user is not None and result.outcome in (SignIn.OK, SignIn.NEEDS_CODE):
                pending = result.outcome is SignIn.NEEDS_CODE
                secret = users.start_session(
                    session, result.user, now, pending_second_factor=pending
                )
                if not pending:
                    users.signed_in(session, result.user, now)
            session.commit()
            return result.outcome, secret, result.locked_until, result.user is not None

    outcome, secret, locked_until, known = await run_in_threadpool(attempt)
    if not known:
        # An unknown email locks like a real one, so the answers never tell them apart.
        wait = console.unknown_emails.hit(email.lower())
        if wait is not None:
            outcome, locked_until = SignIn.LOCKED, now + timedelta(seconds=wait)
    if outcome is SignIn.LOCKED and locked_until is not None:
        context["error"] = (
            "Too many wrong passwords for this account. Try again after "
            f"{_until(locked_until, now)}, or ask an admin for a reset link."
        )
        return render(request, "sign_in.html", context, status=429)
    if outcome is SignIn.WRONG or secret is None:
        context["error"] = (
            "That email and password do not match an account that can sign in. Check "
            "both, or ask an admin for a reset link."
        )
        return render(request, "sign_in.html", context, status=401)
    # Only wrong attempts count against the address: a team signing in from one office
    # network is not locked out by its own right passwords.
    console.address_limiter.release(address)
    _fresh_csrf(request)
    if outcome is SignIn.NEEDS_CODE:
        request.session["console_next"] = target
        target = "/console/sign-in/code"
    redirect = see_other(target)
    set_session_cookie(request, redirect, secret)
    return redirect


async def code_page(request: Request) -> Response:
    if not awaiting_code(request):
        return see_other(HOME if request.state.user else "/console/sign-in")
    return render(request, "totp_code.html", {"error": ""})


async def code_check(request: Request) -> Response:
    form = await read_form(request)
    secret = cookie_secret(request)
    if not awaiting_code(request) or not secret:
        return see_other("/console/sign-in")
    console = console_of(request)
    now = now_of(request)
    address = client_address(request)
    wait = console.address_limiter.hit(address)
    if wait is not None:
        return message(
            request,
            429,
            "Too many attempts",
            f"Try again in {max(1, round(wait / 60))} min.",
            retry_after=wait,
        )

    def check() -> str | None:
        with console.runtime.sessions() as session:
            row = users.resume_pending(session, secret, now, console.sessions_policy)
            if row is None:
                session.commit()
                return "expired"
            user = row.user
            if users.check_code(user, form["code"], console.runtime.vault, now):
                row.ended_at = now
                fresh = users.start_session(session, user, now)
                users.signed_in(session, user, now, how="password+totp")
                session.commit()
                return fresh
            locked = users.code_failed(session, user, now=now, lock=console.lock_policy)
            session.commit()
            return "locked" if locked else None

    fresh = await run_in_threadpool(check)
    if fresh == "expired":
        return see_other("/console/sign-in")
    if fresh is None or fresh == "locked":
        error = (
            "Too many wrong codes: this account is locked for a while. Ask an admin if "
            "you no longer have your app."
            if fresh == "locked"
            else "That code is not right. Type the 6 digits your app shows now."
        )
        return render(request, "totp_code.html", {"error": error}, status=401)
    console.address_limiter.release(address)
    _fresh_csrf(request)
    target = _safe_next(str(request.session.pop("console_next", HOME)))
    response = see_other(target)
    set_session_cookie(request, response, fresh)
    return response


async def sign_out(request: Request) -> Response:
    await read_form(request)
    secret = cookie_secret(request)
    console = console_of(request)
    now = now_of(request)
    if secret:

        def end() -> None:
            with console.runtime.sessions() as session:
                user = users.end_session(session, secret, now)
                if user is not None:
                    users.signed_out(session, user, now)
                session.commit()

        await run_in_threadpool(end)
    _fresh_csrf(request)
    flash(request, "You are signed out.")
    response = see_other("/console/sign-in")
    clear_session_cookie(response)
    return response


# -- invite and reset links --------------------------------------------------------------


def _link_view(request: Request, purpose: LinkPurpose) -> dict[str, Any] | None:
    """The link's person (email, name), or None when the link cannot be used."""
    console = console_of(request)
    with console.runtime.sessions() as session:
        try:
            row = users.open_link(session, request.path_params["secret"], now_of(request))
        except PeopleError:
            return None
        if row.purpose != purpose.value:
            return None
        return {"email": row.user.email, "name": row.user.name, "role": row.user.role}


def _link_refused(request: Request) -> Response:
    return message(
        request,
        404,
        "This link cannot be used",
        "It has expired, has been used already, or was replaced by a newer one. Ask an "
        "admin for a new link.",
    )


def _link_page(purpose: LinkPurpose) -> Any:
    async def show(request: Request) -> Response:
        person = await run_in_threadpool(_link_view, request, purpose)
        if person is None:
            return _link_refused(request)
        return render(
            request,
            "invite.html",
            {"person": person, "purpose": purpose.value, "errors": {}, "name": person["name"]},
        )

    show.__name__ = f"{purpose.value}_page"
    return show


def _link_accept(purpose: LinkPurpose) -> Any:
    async def accept(request: Request) -> Response:
        form = await read_form(request)
        person = await run_in_threadpool(_link_view, request, purpose)
        if person is None:
            return _link_refused(request)
        name, password, again = form["name"].strip(), form["password"], form["password_again"]
        errors: dict[str, str] = {}
        if purpose is LinkPurpose.INVITE and not name:
            errors["name"] = "Enter your name, as your team knows you."
        problems = users.password_problems(password, person["email"])
        if problems:
            errors["password"] = " ".join(problems)
        elif password != again:
            errors["password_again"] = "The two passwords are not the same."  # noqa: S105
        if errors:
            return render(
                request,
                "invite.html",
                {"person": person, "purpose": purpose.value, "errors": errors, "name": name},
                status=400,
            )
        console = console_of(request)
        now = now_of(request)

        def use() -> str | None:
            with console.runtime.sessions() as session:
                try:
                    user = users.accept_link(
                        session,
                        request.path_params["secret"],
                        password=password,
                        name=name,
                        now=now,
                    )
                except PeopleError:
                    return None
                session.commit()
                return user.email

        email = await run_in_threadpool(use)
        if email is None:
            return _link_refused(request)
        # The first admin's email (admin@localhost) is one they never chose: the sign-in
        # form holds it for them, once.
        request.session[SIGN_IN_EMAIL_KEY] = email
        flash(request, f"Your password is set. Sign in as {email} with it now.")
        return see_other("/console/sign-in")

    accept.__name__ = f"{purpose.value}_accept"
    return accept


# -- the second factor -------------------------------------------------------------------


def _totp_context(request: Request, fresh: bool) -> dict[str, Any]:
    console = console_of(request)
    me = user_of(request)
    with console.runtime.sessions() as session:
        user = session.get(User, me.id)
        assert user is not None
        if user.totp_enabled_at is not None:
            return {"enabled": True, "setup": None, "error": "", "required": False}
        setup = None if fresh else users.pending_totp(user, console.runtime.vault)
        if setup is None:
            setup = users.begin_totp(user, console.runtime.vault)
            session.commit()
        return {
            "enabled": False,
            "setup": setup,
            "error": "",
            "required": me.must_set_up_2fa,
        }


async def totp_page(request: Request) -> Response:
    context = await run_in_threadpool(_totp_context, request, False)
    return render(request, "totp_setup.html", context)


async def totp_enable(request: Request) -> Response:
    form = await read_form(request)
    console = console_of(request)
    me = user_of(request)
    now = now_of(request)

    def enable() -> bool:
        with console.runtime.sessions() as session:
            user = session.get(User, me.id)
            assert user is not None
            done = users.enable_totp(session, user, form["code"], console.runtime.vault, now=now)
            session.commit()
            return done

    if await run_in_threadpool(enable):
        flash(request, "Two-step sign-in is on: you will be asked for a code each time.")
        return see_other(HOME)
    context = await run_in_threadpool(_totp_context, request, False)
    context["error"] = (
        "That code is not right. Check the time on your phone and type the 6 digits the "
        "app shows now."
    )
    return render(request, "totp_setup.html", context, status=400)


ROUTES: list[ConsoleRoute] = [
    route("/sign-in", sign_in_page, role=None, name="sign_in"),
    route("/sign-in", sign_in, role=None, methods=("POST",), name="sign_in_post"),
    route("/sign-in/code", code_page, role=None, name="sign_in_code"),
    route("/sign-in/code", code_check, role=None, methods=("POST",), name="sign_in_code_post"),
    route(
        "/sign-out", sign_out, role=Role.VIEWER, methods=("POST",), name="sign_out", before_2fa=True
    ),
    route("/invite/{secret}", _link_page(LinkPurpose.INVITE), role=None, name="invite"),
    route(
        "/invite/{secret}",
        _link_accept(LinkPurpose.INVITE),
        role=None,
        methods=("POST",),
        name="invite_post",
    ),
    route("/reset/{secret}", _link_page(LinkPurpose.RESET), role=None, name="reset"),
    route(
        "/reset/{secret}",
        _link_accept(LinkPurpose.RESET),
        role=None,
        methods=("POST",),
        name="reset_post",
    ),
    route("/account/2fa", totp_page, role=Role.VIEWER, name="totp", before_2fa=True),
    route(
        "/account/2fa",
        totp_enable,
        role=Role.VIEWER,
        methods=("POST",),
        name="totp_post",
        before_2fa=True,
    ),
]
