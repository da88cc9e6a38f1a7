"""`backup` and `restore`: the whole database and the settings in one file."""

from __future__ import annotations

import os
from pathlib import Path

import click

from bot.cli.context import AppContext, pass_app
from bot.people import audit
from bot.storage.backup import (
    KEYS_SETTING,
    SETTINGS_COPY,
    BackupError,
    KeyCheck,
    check_keys,
    create_backup,
    opened_archive,
    raw_settings,
    restore_backup,
)

NO_KEYS_WARNING = (
    f"the archive holds no secrets: without {KEYS_SETTING} (in {{config}}) the account "
    "tokens and supporters' emails in it cannot be decrypted after a restore. Keep a copy "
    "of the keys somewhere safe, apart from the archive (or back up with --with-keys)"
)


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--with-keys",
    is_flag=True,
    help=f"Include the secrets ({KEYS_SETTING}, platform tokens, WEB_SECRET_KEY, SMTP "
    "password) in the settings copy. Without them the tokens stored in the database "
    "cannot be decrypted after a restore; with them, guard the archive like the keys.",
)
@pass_app
def backup(app: AppContext, file: Path, with_keys: bool) -> None:
    """Write the database and a copy of the settings to FILE (a .tar.gz).

    Safe while the daemon runs: SQLite is copied with its online backup API, PostgreSQL
    with pg_dump (install the PostgreSQL client tools). Secrets are left out of the
    settings copy unless --with-keys: without TOKEN_ENCRYPTION_KEYS the stored tokens
    cannot be decrypted after a restore. `python main.py restore FILE` puts it back.
    """
    settings = app.settings
    values = raw_settings(app.config_file, os.environ)
    try:
        manifest = create_backup(
            settings.database_url, file, settings=values, with_keys=with_keys, progress=_progress
        )
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    size = file.stat().st_size
    click.echo(
        f"backup written to {file} ({size:,} bytes): {manifest.database_kind} database at "
        f"migration {manifest.alembic_revision}, settings "
        + ("with their secrets" if with_keys else "without secrets")
    )
    if with_keys:
        click.echo(
            "it holds the encryption keys and tokens: keep it as safe as config.env", err=True
        )
    else:
        click.echo("warning: " + NO_KEYS_WARNING.format(config=app.config_file), err=True)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--settings-to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the archive's copy of the settings to this file (never overwritten).",
)
@pass_app
def restore(app: AppContext, file: Path, settings_to: Path | None) -> None:
    """Restore a `backup` FILE onto the empty database in DATABASE_URL, then run the
    migrations up to this version's schema.

    Refuses a database that holds data, an archive made by a newer Clarion, and a damaged
    archive (every checksum is verified before anything is written). A SQLite backup
    restores onto SQLite or PostgreSQL; a PostgreSQL one onto PostgreSQL. Stored tokens
    open only with the old TOKEN_ENCRYPTION_KEYS.
    """
    settings = app.settings
    if settings_to is not None and settings_to.exists():
        raise click.ClickException(f"{settings_to} exists: give a new file for --settings-to")
    try:
        manifest = restore_backup(file, settings.database_url, progress=_progress)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    with app.runtime.sessions() as session:
        audit.record(
            session,
            actor=audit.cli_actor(),
            action="backup.restore",
            subject=file.name,
            after={"kind": manifest.database_kind, "made_at": str(manifest.created_at)},
        )
        session.commit()
    click.echo(
        f"restored {file} ({manifest.database_kind} backup of {manifest.created_at}) and "
        "migrated it to the current schema"
    )
    if settings_to is not None:
        with opened_archive(file) as (_manifest, folder):
            copied = (folder / SETTINGS_COPY).read_bytes()
        # Owner-only from the start: a --with-keys archive's copy holds the keys.
        fd = os.open(settings_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(copied)
        click.echo(f"the archive's settings are in {settings_to}: compare with {app.config_file}")
    match check_keys(settings.database_url, settings.token_encryption_keys):
        case KeyCheck.NO_KEY | KeyCheck.WRONG_KEY:
            where = (
                "they are in the archive's settings copy"
                if manifest.with_keys
                else "the archive was made without them"
            )
            click.echo(
                f"warning: the stored account tokens do not open with {KEYS_SETTING} in "
                f"{app.config_file}: put the keys of the server this backup came from in "
                f"front of the list ({where})",
                err=True,
            )
        case KeyCheck.OPENS:
            click.echo(f"the stored account tokens open with {KEYS_SETTING}")
        case KeyCheck.NOTHING_SEALED:
            pass
