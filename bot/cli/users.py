"""`users`: the people who sign in to the console, from the shell.

Every change is written to the audit log with the actor ``cli:<os user>``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from bot.cli.context import AppContext, pass_app
from bot.cli.output import emit_json, table
from bot.people import users as people
from bot.people.audit import cli_actor
from bot.people.roles import Role
from bot.people.users import Link, PeopleError
from bot.runtime.wiring import Runtime

_EXPIRES = re.compile(r"^\s*([0-9]+)\s*([hd])\s*$", re.I)
MAX_LINK_LIFETIME = timedelta(days=30)


def parse_expires(raw: str | None, default_hours: int) -> timedelta:
    if raw is None:
        return timedelta(hours=default_hours)
    match = _EXPIRES.match(raw)
    if not match:
        raise click.BadParameter(
            f"{raw!r} is not a lifetime: use hours or days, e.g. 24h or 3d",
            param_hint="--expires",
        )
    # More digits than 720h has are out of range before int() (4,300 digits at most) or
    # timedelta (10**20 hours overflows) could refuse them less clearly.
    if len(match.group(1)) > 6:
        raise click.BadParameter("between 1h and 30d", param_hint="--expires")
    amount = int(match.group(1))
    lifetime = timedelta(hours=amount) if match.group(2).lower() == "h" else timedelta(days=amount)
    if not timedelta(hours=1) <= lifetime <= MAX_LINK_LIFETIME:
        raise click.BadParameter("between 1h and 30d", param_hint="--expires")
    return lifetime


def _role(_ctx: click.Context, _param: click.Parameter, value: str) -> Role:
    try:
        return Role.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


ROLE_CHOICES = " | ".join(r.value for r in Role)
EXPIRES_HELP = "How long the link works, e.g. 24h or 3d (default: CONSOLE_INVITE_HOURS, 72h)."


def _echo_link(app: AppContext, link: Link, what: str) -> None:
    click.echo(f"{what} for {link.user.email} ({link.user.role}); send them this link:")
    click.echo(f"  {link.url(app.settings.web_base_url)}")
    click.echo(
        f"It works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC. It is not shown again: "
        f"`python main.py users reset {link.user.email}` makes a new one."
    )


def console_banner(runtime: Runtime) -> list[str]:
    """What `run` and `web` print about the console: its URL, and on the very first start
    (no console users yet) a one-time admin invite link."""
    settings = runtime.settings
    if not settings.console_enabled:
        return []
    lines = [f"volunteer console: {settings.web_base_url}/console/"]
    with runtime.sessions() as session:
        link = people.first_admin_invite(
            session,
            actor=cli_actor(),
            now=datetime.now(UTC),
            lifetime=timedelta(hours=settings.console_invite_hours),
        )
        session.commit()
    if link is not None:
        lines += [
            "first start: no one can sign in to the console yet. Open this one-time link to "
            "choose the admin's password:",
            f"  {link.url(settings.web_base_url)}",
            f"(it works until {link.expires_at:%Y-%m-%d %H:%M} UTC; lost it? `python main.py "
            f"users reset {link.user.email}`)",
        ]
    return lines


@click.group()
def users() -> None:
    """Invite people to the console, change their role, disable them."""


@users.command("add")
@click.argument("email")
@click.option("--role", required=True, callback=_role, help=f"{ROLE_CHOICES}")
@click.option("--name", default="", help="Their name as the team knows them (they can set it).")
@click.option("--expires", default=None, help=EXPIRES_HELP)
@pass_app
def add(app: AppContext, email: str, role: Role, name: str, expires: str | None) -> None:
    """Invite EMAIL: prints a one-time link where they set their password."""
    lifetime = parse_expires(expires, app.settings.console_invite_hours)
    with app.runtime.sessions() as session:
        try:
            link = people.invite(
                session,
                email=email,
                role=role,
                name=name,
                actor=cli_actor(),
                now=datetime.now(UTC),
                lifetime=lifetime,
            )
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        _echo_link(app, link, "invited")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_app
def list_users(app: AppContext, as_json: bool) -> None:
    """Everyone who can (or was invited to) sign in, with role and state."""
    with app.runtime.sessions() as session:
        rows = people.all_users(session)
        if as_json:
            emit_json(
                [
                    {
                        "email": u.email,
                        "name": u.name,
                        "role": u.role,
                        "state": people.state_of(u, datetime.now(UTC)).value,
                        "two_factor": u.totp_enabled_at is not None,
                        "last_sign_in": u.last_sign_in_at,
                    }
                    for u in rows
                ]
            )
            return
        now = datetime.now(UTC)
        table(
            (
                (
                    u.email,
                    u.name,
                    u.role,
                    people.state_of(u, now).value,
                    "on" if u.totp_enabled_at else "off",
                    f"{u.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if u.last_sign_in_at else "never",
                )
                for u in rows
            ),
            ("email", "name", "role", "state", "2fa", "last sign-in"),
            empty="no console users yet: `python main.py users add EMAIL --role admin`",
        )


@users.command("disable")
@click.argument("email")
@pass_app
def disable(app: AppContext, email: str) -> None:
    """Stop EMAIL signing in; their open sessions end at once."""
    with app.runtime.sessions() as session:
        try:
            user = people.disable(session, email, actor=cli_actor(), now=datetime.now(UTC))
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"{user.email} is disabled; their sessions have ended")


@users.command("enable")
@click.argument("email")
@pass_app
def enable(app: AppContext, email: str) -> None:
    """Let a disabled EMAIL sign in again."""
    with app.runtime.sessions() as session:
        try:
            user = people.enable(session, email, actor=cli_actor(), now=datetime.now(UTC))
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"{user.email} can sign in again")


@users.command("role")
@click.argument("email")
@click.argument("role", callback=_role, metavar="ROLE")
@pass_app
def set_role(app: AppContext, email: str, role: Role) -> None:
    """Give EMAIL the role ROLE (viewer | editor | approver | admin)."""
    with app.runtime.sessions() as session:
        try:
            user = people.set_role(session, email, role, actor=cli_actor(), now=datetime.now(UTC))
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"{user.email} is now {user.role}")


@users.command("reset")
@click.argument("email")
@click.option("--expires", default=None, help=EXPIRES_HELP)
@pass_app
def reset(app: AppContext, email: str, expires: str | None) -> None:
    """A one-time link where EMAIL sets a new password (or a new invite link when they
    never accepted theirs)."""
    lifetime = parse_expires(expires, app.settings.console_invite_hours)
    with app.runtime.sessions() as session:
        try:
            link = people.reset_link(
                session, email, actor=cli_actor(), now=datetime.now(UTC), lifetime=lifetime
            )
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        _echo_link(app, link, "password reset" if link.purpose.value == "reset" else "new invite")


@users.command("2fa-off")
@click.argument("email")
@pass_app
def two_factor_off(app: AppContext, email: str) -> None:
    """Turn EMAIL's two-step sign-in off (a lost phone); they can set it up again."""
    with app.runtime.sessions() as session:
        try:
            user = people.remove_totp(session, email, actor=cli_actor(), now=datetime.now(UTC))
        except PeopleError as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
        click.echo(f"two-step sign-in is off for {user.email}")
