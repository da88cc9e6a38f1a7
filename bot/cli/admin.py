"""Set-up commands: `init`, `config check`, `keys`."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import click
from cryptography.fernet import InvalidToken
from dotenv import set_key
from sqlalchemy import select

from bot.cli.context import AppContext, pass_app
from bot.cli.output import emit_json, plural, table
from bot.people import audit
from bot.runtime.wiring import Runtime
from bot.settings import (
    ConfigError,
    Secret,
    base_url_mismatch,
    describe,
    folder_problems,
    load_settings,
)
from bot.storage.engine import PRIVATE_FILE_MODE, sqlite_path
from bot.storage.models import (
    Account,
    AlertChannels,
    MastodonApp,
    OAuthRequest,
    Pledge,
    TokenRevocation,
    User,
)
from bot.storage.vault import Vault, generate_key

EXAMPLE = Path("config.env.example")


@click.command("init")
@pass_app
def init(app: AppContext) -> None:
    """Create config.env (from the example), an encryption key, and the database.

    Safe to run again: it only adds what is missing.
    """
    path = app.config_file
    if not path.exists():
        if not EXAMPLE.exists():
            raise click.ClickException(f"{EXAMPLE} is missing: run this from the Clarion folder")
        # Created 0600 from the start: it is about to hold the keys (a copy, then a chmod,
        # would leave it readable by all for a moment).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(EXAMPLE.read_text(encoding="utf-8"))
        click.echo(f"created {path} from {EXAMPLE}")
    elif _tighten(path):
        click.echo(f"made {path} readable by its owner only (it holds the keys)")
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not settings.token_encryption_keys:
        set_key(str(path), "TOKEN_ENCRYPTION_KEYS", generate_key(), quote_mode="never")
        click.echo(f"generated a token encryption key in {path} (keep it secret, back it up)")
        settings = load_settings(path)
    if not settings.web_secret_key:
        set_key(str(path), "WEB_SECRET_KEY", secrets.token_urlsafe(32), quote_mode="never")
        click.echo(f"generated a web secret key in {path} (signs cookies and withdraw links)")
        settings = load_settings(path)
    Runtime(settings).migrate()
    database = sqlite_path(settings.database_url)
    if database is not None and _tighten(Path(database)):
        click.echo(f"made {database} readable by its owner only")
    click.echo(f"database ready: {_safe_url(settings.database_url)}")
    mode = (
        "the built-in sandbox (no real credentials set)"
        if settings.uses_sandbox
        else "the real networks"
    )
    click.echo(f"posting to: {mode}")
    click.echo(
        "next: `python main.py run` starts the daemon; `python main.py --help` lists every command"
    )


def _tighten(path: Path) -> bool:
    """Make an existing file 0600 (with its SQLite -wal and -shm files, if any) when others
    could read or write it; True when something changed."""
    changed = False
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            mode = stat.S_IMODE(each.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            each.chmod(PRIVATE_FILE_MODE)
            changed = True
    return changed


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_app
def check(app: AppContext, as_json: bool) -> None:
    """Validate every setting and show them, secrets masked. Exit status 1 on a problem."""
    settings = app.settings  # a bad value stops here with the variable's name
    problems = folder_problems(settings)
    try:
        Vault(settings.token_encryption_keys)
    except ConfigError as exc:
        problems.append(str(exc))
    try:
        app.runtime  # noqa: B018 - opening it migrates and proves the database works
    except click.ClickException as exc:
        problems.append(exc.message)
    rows = describe(settings)
    if settings.database_url:
        rows = [(n, _safe_url(v) if n == "DATABASE_URL" else v, sec) for n, v, sec in rows]
    mode = "sandbox" if settings.uses_sandbox else "real platforms"
    mismatch = base_url_mismatch(settings)
    warnings = [mismatch] if mismatch else []
    if as_json:
        emit_json(
            {
                "ok": not problems,
                "mode": mode,
                "problems": problems,
                "warnings": warnings,
                "settings": {name: value for name, value, _ in rows},
            }
        )
    else:
        if settings.web_base_url_follows:
            rows = [
                (n, f"{v} (follows WEB_HOST, WEB_PORT)" if n == "WEB_BASE_URL" else v, sec)
                for n, v, sec in rows
            ]
        table(rows, ("setting", "value", "section"), empty="")
        click.echo(f"\nposting to: {mode}")
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        for problem in problems:
            click.echo(f"problem: {problem}", err=True)
        if not problems:
            click.echo("configuration OK")
    if problems:
        raise SystemExit(1)


@click.group("keys")
def keys() -> None:
    """Token encryption keys."""


@keys.command("generate")
def generate() -> None:
    """Print a new key (for TOKEN_ENCRYPTION_KEYS)."""
    click.echo(generate_key())


@keys.command("rotate")
@pass_app
def rotate(app: AppContext) -> None:
    """Add a new key in front and re-encrypt every stored secret with it: account tokens,
    supporters' emails, sign-ins in progress, two-step secrets, alert webhooks, Clarion's
    Mastodon app secrets, and withdrawn supporters' tokens still to be revoked.

    The old keys stay in TOKEN_ENCRYPTION_KEYS (so nothing is lost if this is
    interrupted); remove them by hand once this has finished. Restart the daemon
    afterwards so it reads the new key list.
    """
    settings = app.settings
    if "TOKEN_ENCRYPTION_KEYS" in os.environ:
        raise click.ClickException(
            "TOKEN_ENCRYPTION_KEYS is set in the environment, which wins over "
            f"{app.config_file}: a key written there would never be read. Rotate by putting "
            "`python main.py keys generate`'s key in front of the environment's list instead"
        )
    old = settings.token_encryption_keys.reveal()
    if not old:
        raise click.ClickException("no key yet: run `python main.py init`")
    combined = f"{generate_key()},{old}"
    vault = Vault(Secret(combined))
    sealed_columns = (
        (Account, Account.credentials),
        (Pledge, Pledge.email),
        (OAuthRequest, OAuthRequest.secret),
        (User, User.totp_secret),  # two-step sign-in secrets are sealed like tokens
        (AlertChannels, AlertChannels.webhook_url),  # a Slack/Discord URL is a credential
        (AlertChannels, AlertChannels.webhook_secret),
        (MastodonApp, MastodonApp.client_secret),  # Clarion's app on each Mastodon server
        (TokenRevocation, TokenRevocation.credentials),  # deleted tokens still to revoke
    )
    with app.runtime.sessions() as session:
        rows = [
            (row, column.key)
            for model, column in sealed_columns
            for row in session.scalars(select(model).where(column.is_not(None), column != ""))
        ]
        try:  # prove every value opens before writing anything anywhere
            rotated = [(row, key, vault.rotate(getattr(row, key))) for row, key in rows]
        except InvalidToken:
            raise click.ClickException(
                "some stored values do not open with TOKEN_ENCRYPTION_KEYS; nothing was "
                "changed (was a key removed? put it back)"
            ) from None
        # config first: if re-encrypting is interrupted, every value still opens
        set_key(str(app.config_file), "TOKEN_ENCRYPTION_KEYS", combined, quote_mode="never")
        for row, key, value in rotated:
            setattr(row, key, value)
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="keys.rotate",
            subject="TOKEN_ENCRYPTION_KEYS",
            after={"secrets_reencrypted": len(rotated)},
        )
        session.commit()
    click.echo(
        f"re-encrypted {plural(len(rotated), 'stored secret')} with a new key; the old keys are "
        f"still in {app.config_file} — remove them once you no longer need them. Restart "
        "the daemon so it reads the new key list."
    )
