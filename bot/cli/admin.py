"""Set-up commands: `init`, `config check`, `keys`."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import click
from dotenv import set_key
from sqlalchemy import select

from bot.cli.context import AppContext, pass_app
from bot.cli.output import emit_json, table
from bot.config import ConfigError, Secret, describe, load_settings
from bot.db.models import Account
from bot.runtime import Runtime
from bot.vault import Vault, generate_key

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
        shutil.copyfile(EXAMPLE, path)
        path.chmod(0o600)
        click.echo(f"created {path} from {EXAMPLE}")
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
    click.echo(f"database ready: {_safe_url(settings.database_url)}")
    mode = (
        "the built-in sandbox (no real credentials set)"
        if settings.uses_sandbox
        else "the real X and Facebook"
    )
    click.echo(f"posting to: {mode}")
    click.echo(
        "next: `python main.py run` starts the daemon; `python main.py --help` lists every command"
    )


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
    problems = []
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
    if as_json:
        emit_json(
            {
                "ok": not problems,
                "mode": mode,
                "problems": problems,
                "settings": {name: value for name, value, _ in rows},
            }
        )
    else:
        table(rows, ("setting", "value", "section"), empty="")
        click.echo(f"\nposting to: {mode}")
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
    """Add a new key in front and re-encrypt every stored token with it.

    The old keys stay in TOKEN_ENCRYPTION_KEYS (so nothing is lost if this is
    interrupted); remove them by hand once this has finished.
    """
    settings = app.settings
    old = settings.token_encryption_keys.reveal()
    if not old:
        raise click.ClickException("no key yet: run `python main.py init`")
    combined = f"{generate_key()},{old}"
    # config first: if re-encrypting is interrupted, every token still opens
    set_key(str(app.config_file), "TOKEN_ENCRYPTION_KEYS", combined, quote_mode="never")
    vault = Vault(Secret(combined))
    with app.runtime.sessions() as session:
        accounts = list(session.scalars(select(Account)))
        for account in accounts:
            if account.credentials:
                account.credentials = vault.rotate(account.credentials)
        session.commit()
    click.echo(
        f"re-encrypted {len(accounts)} account tokens with a new key; the old keys are "
        f"still in {app.config_file} — remove them once you no longer need them"
    )
