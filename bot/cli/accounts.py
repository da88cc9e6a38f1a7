"""`accounts`: the accounts Clarion can post as."""

from __future__ import annotations

import click
import requests
from sqlalchemy import select

from bot.campaigns.account_admin import account_summary
from bot.campaigns.accounts import store_campaign_account, sync_config_accounts
from bot.cli.context import AppContext, pass_app
from bot.cli.output import account_label, emit_json, table
from bot.people import audit
from bot.platforms.base import AccountInfo, Credentials, PlatformError
from bot.runtime.wiring import X_ORIGIN, routes_for
from bot.sandbox.options import admin_headers
from bot.storage.models import Account


@click.group()
def accounts() -> None:
    """List and connect the accounts Clarion posts as."""


@accounts.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts (tokens never shown).")
@pass_app
def list_accounts(app: AppContext, as_json: bool) -> None:
    """List accounts: platform, handle, whose, status."""
    with app.runtime.sessions() as session:
        rows = list(session.scalars(select(Account).order_by(Account.platform, Account.id)))
        if as_json:
            emit_json(
                [
                    {
                        "id": a.id,
                        "platform": a.platform,
                        "handle": a.handle,
                        "name": a.name,
                        "owner": a.owner_kind,
                        "default": a.is_default,
                        "source": a.source,
                        "platform_user_id": a.platform_user_id,
                        "followers": a.followers,
                        "status": a.status,
                        "status_reason": a.status_reason,
                    }
                    for a in rows
                ]
            )
            return
        table(
            (
                (
                    a.id,
                    a.platform,
                    account_label(a.platform, a.handle),
                    a.owner_kind + (" (default)" if a.is_default else ""),
                    a.source,
                    a.followers if a.followers is not None else "",
                    a.status,
                )
                for a in rows
            ),
            ("id", "platform", "account", "owner", "from", "followers", "status"),
            empty="no accounts yet: `python main.py accounts connect x` (or facebook, "
            "bluesky, or mastodon --instance SERVER), or "
            "start `python main.py run` to use the sandbox",
        )


def _sandbox_app(app: AppContext) -> dict[str, str]:
    url = app.settings.sandbox_url
    token = app.settings.sandbox_admin_token.reveal()
    answer = requests.get(f"{url}/_sandbox/app", timeout=10, headers=admin_headers(token))
    answer.raise_for_status()
    data: dict[str, str] = answer.json()
    return data


def _save_audited(app: AppContext, platform: str, creds: Credentials, who: AccountInfo) -> Account:
    """Store the account as the platform's default and write its audit row (connect, or
    reconnect when Clarion knew it already), in one transaction."""
    with app.runtime.sessions() as session:
        known = session.scalars(
            select(Account).where(
                Account.platform == platform,
                Account.owner_kind == "campaign",
                Account.platform_user_id == who.platform_user_id,
            )
        ).first()
        before = account_summary(known) if known is not None else None
        account = store_campaign_account(
            session, app.runtime.vault, platform, creds, who, source="connect"
        )
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="account.reconnect" if before is not None else "account.connect",
            subject=f"account:{account.id}",
            before=before,
            after=account_summary(account),
        )
        session.commit()
        return account


@accounts.group("connect")
def connect() -> None:
    """Connect the campaign's own X account, Facebook Page, Bluesky or Mastodon account."""


@connect.command("x")
@click.option("--pin", help="The PIN X showed (otherwise you are asked for it).")
@pass_app
def connect_x(app: AppContext, pin: str | None) -> None:
    """Sign in to X with a PIN (OAuth 1.0a, out-of-band) and store the account's tokens.

    Needs X_CONSUMER_KEY and X_CONSUMER_SECRET (your X app's keys), or SANDBOX_URL.
    """
    from bot.platforms.x import XPinAuth

    settings = app.settings
    key, secret = settings.x_consumer_key.reveal(), settings.x_consumer_secret.reveal()
    if settings.sandbox_url and not key:
        sandbox = _sandbox_app(app)
        key, secret = sandbox["consumer_key"], sandbox["consumer_secret"]
    if not (key and secret):
        raise click.ClickException(
            "set X_CONSUMER_KEY and X_CONSUMER_SECRET in config.env first "
            "(your app's keys from the X developer portal)"
        )
    auth = XPinAuth(
        key,
        secret,
        api_base_url=routes_for(settings).get(X_ORIGIN),
        timeout=settings.http_timeout_seconds,
    )
    try:
        url = auth.authorization_url()
        click.echo(
            f"1. Open this address, sign in as the campaign's account and authorise:\n   {url}"
        )
        pin = pin or click.prompt("2. Type the PIN X shows")
        token, token_secret, who = auth.finish(pin)
    except PlatformError as exc:
        raise click.ClickException(exc.message) from None
    account = _save_audited(app, "x", Credentials(token, token_secret), who)
    click.echo(
        f"connected @{account.handle} (X user {account.platform_user_id}); it is now "
        "the campaign's default X account"
    )


@connect.command("mastodon")
@click.option(
    "--instance",
    "server",
    required=True,
    help="The campaign account's Mastodon server, e.g. mastodon.social or https://union.social.",
)
@click.option("--code", help="The code the server showed (otherwise you are asked for it).")
@pass_app
def connect_mastodon(app: AppContext, server: str, code: str | None) -> None:
    """Sign in to a Mastodon server (OAuth 2; Clarion registers itself there the first time)
    and store the account's token, asking only to post and read statuses."""
    from bot.campaigns import mastodon_signin
    from bot.platforms.mastodon import MastodonPlatform, instance_url

    try:
        base = instance_url(server)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--instance") from None
    platform = app.runtime.platform("mastodon")
    assert isinstance(platform, MastodonPlatform)
    redirect = mastodon_signin.OUT_OF_BAND
    try:
        with app.runtime.sessions() as session:
            url = mastodon_signin.authorize_url(
                session, app.runtime.vault, platform, base, redirect, state="cli"
            )
            session.commit()
        click.echo(
            f"1. Open this address, sign in as the campaign's account and authorise:\n   {url}"
        )
        code = code or click.prompt("2. Type the code the server shows")
        done = mastodon_signin.finish_with_app(
            app.runtime.sessions, app.runtime.vault, platform, base, redirect, code
        )
    except PlatformError as exc:
        raise click.ClickException(exc.message) from None
    account = _save_audited(app, "mastodon", done.creds, done.who)
    with app.runtime.sessions() as session:
        stored = session.get(Account, account.id)
        if stored is not None:
            stored.max_length = done.max_length
            session.commit()
    click.echo(
        f"connected @{account.handle} (posts up to {done.max_length} characters there); it "
        "is now the campaign's default Mastodon account"
    )


@connect.command("facebook")
@click.option("--page-id", required=True, help="The Page's numeric id.")
@click.option(
    "--token",
    prompt="Page access token",
    hide_input=True,
    help="A Page access token with pages_manage_posts (asked for if not given).",
)
@pass_app
def connect_facebook(app: AppContext, page_id: str, token: str) -> None:
    """Store a Facebook Page and its Page token (Facebook lets apps post only to Pages)."""
    creds = Credentials(token.strip(), "", page_id.strip())
    try:
        who = app.runtime.platform("facebook").verify(creds)
    except PlatformError as exc:
        raise click.ClickException(f"Facebook refused the token: {exc.message}") from None
    account = _save_audited(app, "facebook", creds, who)
    click.echo(
        f"connected the Page {account.name} ({account.platform_user_id}); it is now the "
        "campaign's default Facebook Page"
    )


@connect.command("bluesky")
@click.option("--handle", required=True, help="The account's handle, e.g. union.bsky.social.")
@click.option(
    "--app-password",
    prompt="App password",
    hide_input=True,
    help="An app password made at bsky.app > Settings > Privacy and security > App "
    "passwords (asked for if not given; never stored).",
)
@pass_app
def connect_bluesky(app: AppContext, handle: str, app_password: str) -> None:
    """Sign the campaign's Bluesky account in with an app password and store its session.

    The app password is used once, to make a session, and is not kept: the session's
    tokens are sealed in the vault and refreshed before they expire. Supporters never
    give an app password; they sign in with Bluesky's OAuth on the pledge page.
    """
    from bot.platforms.bluesky import BlueskyPlatform

    platform = app.runtime.platform("bluesky")
    assert isinstance(platform, BlueskyPlatform)  # noqa: S101 - the registry's adapter
    try:
        creds = platform.sign_in(handle.strip().lstrip("@"), app_password.strip())
        who = platform.verify(creds)
    except PlatformError as exc:
        raise click.ClickException(f"Bluesky refused the sign-in: {exc.message}") from None
    account = _save_audited(app, "bluesky", creds, who)
    click.echo(
        f"connected @{account.handle} ({account.platform_user_id}); it is now the "
        "campaign's default Bluesky account"
    )


@accounts.command("sync")
@pass_app
def sync(app: AppContext) -> None:
    """Register the campaign tokens set in config.env (the daemon also does this at start)."""
    try:
        done = sync_config_accounts(app.runtime)
    except PlatformError as exc:
        raise click.ClickException(f"a token in config.env does not work: {exc.message}") from None
    if done:
        with app.runtime.sessions() as session:
            audit.record(
                session,
                actor=audit.cli_actor(),
                action="accounts.sync",
                subject="config.env",
                after={"registered": done},
            )
            session.commit()
    for line in done or ["config.env's accounts are already registered (or none are set)"]:
        click.echo(line)
