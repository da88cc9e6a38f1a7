"""`alerts`: the inbox, a campaign's alert channels, a test alert, the watcher alone."""

from __future__ import annotations

import os
import signal
import threading

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import channel_settings, inbox
from bot.alerts.channel_settings import ChannelSettingsError
from bot.alerts.events import AlertKind, WebhookFormat
from bot.alerts.watcher import watcher_for
from bot.cli.context import AppContext, pass_app
from bot.cli.output import LIMIT, clip, emit_json, local, table
from bot.people import audit
from bot.settings import ConfigError
from bot.storage.models import Campaign
from bot.storage.vault import VaultError
from bot.utf8 import not_utf8


@click.group()
def alerts() -> None:
    """Alerts: failed or missed posts, accounts to reconnect, a stopped daemon, a
    finished release, told by email and/or webhook (see docs/alerts.md)."""


@alerts.command("list")
@click.option("--campaign", help="Only this campaign's alerts (its slug).")
@click.option(
    "--limit", default=20, show_default=True, type=LIMIT, help="At most this many, newest first."
)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_app
def list_alerts(app: AppContext, campaign: str | None, limit: int, as_json: bool) -> None:
    """The inbox: every alert, and whether each channel got it."""
    with app.runtime.sessions() as session:
        items = inbox.recent(session, campaign=campaign, limit=limit)
    if as_json:
        emit_json([item.as_dict() for item in items])
        return
    table(
        (
            (
                item.id,
                local(item.created_at, item.timezone),
                item.campaign or "(all)",
                clip(item.title, 60),
                "; ".join(f"{s.channel} {s.state.value}" for s in item.sends) or "inbox only",
            )
            for item in items
        ),
        ("id", "when", "campaign", "alert", "channels"),
        empty="no alerts" + (f" for {campaign}" if campaign else ""),
    )


def _campaign(session: Session, slug: str) -> Campaign:
    found = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if found is None:
        raise click.ClickException(
            f"no campaign {slug!r}: see `python main.py posts list` for the campaigns"
        )
    return found


def _from_env(option: str, name: str | None) -> str | None:
    if name is None:
        return None
    value = os.environ.get(name)
    if not value:
        raise click.ClickException(f"{option} {name}: that environment variable is not set")
    why = not_utf8(value)
    if why is not None:  # a webhook URL or secret: never shown, even in part
        raise click.ClickException(
            f"{option} {name}: that environment variable is not valid text ({why}); set it "
            "again as UTF-8"
        )
    return value


@alerts.command("set")
@click.argument("campaign")
@click.option("--email", "emails", multiple=True, help="An address to email (repeat for more).")
@click.option("--no-email", is_flag=True, help="Email nobody.")
@click.option(
    "--webhook",
    help="The webhook URL. It may carry a secret (Slack, Discord): prefer --webhook-from-env.",
)
@click.option("--webhook-from-env", metavar="VAR", help="Read the webhook URL from this variable.")
@click.option("--no-webhook", is_flag=True, help="Remove the webhook.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in WebhookFormat]),
    help="The webhook's payload: clarion (signed JSON), slack, discord or matrix.",
)
@click.option(
    "--secret-from-env",
    metavar="VAR",
    help="Sign webhook calls with the secret in this variable (at least 16 characters).",
)
@click.option(
    "--events",
    help="Comma-separated: " + ", ".join(k.value for k in AlertKind.subscribable()) + ".",
)
@pass_app
def set_channels(
    app: AppContext,
    campaign: str,
    emails: tuple[str, ...],
    no_email: bool,
    webhook: str | None,
    webhook_from_env: str | None,
    no_webhook: bool,
    fmt: str | None,
    secret_from_env: str | None,
    events: str | None,
) -> None:
    """Where CAMPAIGN's alerts go. Options not given keep their value."""
    if webhook and webhook_from_env:
        raise click.ClickException("give --webhook or --webhook-from-env, not both")
    url = webhook or _from_env("--webhook-from-env", webhook_from_env)
    if no_webhook:
        url = ""
    secret = _from_env("--secret-from-env", secret_from_env)
    runtime = app.runtime
    try:
        vault = runtime.vault
        with runtime.sessions() as session:
            found = _campaign(session, campaign)
            before = channel_settings.read(session, found.id).as_dict()
            view = channel_settings.update(
                session,
                vault,
                found,
                actor=audit.cli_actor(),
                events=channel_settings.parse_events([events]) if events is not None else None,
                emails=() if no_email else (channel_settings.parse_emails(list(emails)) or None),
                webhook_url=url,
                webhook_format=WebhookFormat.parse(fmt) if fmt else None,
                webhook_secret=secret,
            )
            audit.record(
                session,
                actor=audit.cli_actor(),
                action="alerts.settings",
                subject=f"campaign {found.slug}",
                before=before,
                after=view.as_dict(),
            )
            session.commit()
    except ChannelSettingsError as exc:
        raise click.ClickException(f"{exc.field}: {exc.message}") from None
    except (ConfigError, VaultError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"alerts for {campaign}:")
    click.echo("  events:  " + (", ".join(k.value for k in view.events) or "none"))
    click.echo("  email:   " + (", ".join(view.emails) or "nobody"))
    if view.has_webhook:
        signed = "signed" if view.has_secret else "not signed"
        click.echo(f"  webhook: {view.webhook_host} ({view.webhook_format.value}, {signed})")
    else:
        click.echo("  webhook: none")


@alerts.command("test")
@click.argument("campaign")
@pass_app
def test_alert(app: AppContext, campaign: str) -> None:
    """Send a test alert to every channel CAMPAIGN has, now, and say how each fared."""
    runtime = app.runtime
    try:
        watcher = watcher_for(runtime)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    with runtime.sessions() as session:
        found = _campaign(session, campaign)
        audit.record(
            session, actor=audit.cli_actor(), action="alerts.test", subject=f"campaign {found.slug}"
        )
        session.commit()
    alert_id, outcome = watcher.test(found)
    with runtime.sessions() as session:
        shown = inbox.one(session, alert_id)
    if shown is None or not shown[0].sends:
        raise click.ClickException(
            f"{campaign} has no alert channels: set them with "
            f"`python main.py alerts set {campaign} --email you@example.org`"
        )
    item = shown[0]
    for send in item.sends:
        line = f"{send.channel} ({send.target}): {send.state.value}"
        click.echo(line + (f" — {send.last_error}" if send.last_error else ""))
    if outcome.retrying or outcome.undelivered:
        raise click.ClickException(
            "the test alert did not reach every channel (it is retried by the running daemon; "
            "see `python main.py alerts list`)"
        )


@alerts.command("watch")
@pass_app
def watch(app: AppContext) -> None:
    """Run only the alert watcher, in the foreground, until Ctrl-C.

    `run` already watches; run this elsewhere (another machine, a second service) to be
    told when the daemon itself has stopped."""
    from bot.runtime.logs import configure_logging

    configure_logging(app.settings.log_level, app.settings.log_format)
    try:
        watcher = watcher_for(app.runtime)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(f"watching for alerts every {watcher.policy.check_every:g} s; stop with Ctrl-C")
    while not stop.is_set():
        watcher.check()
        watcher.send()
        stop.wait(watcher.policy.check_every)
