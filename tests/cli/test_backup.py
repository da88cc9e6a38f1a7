"""`backup` and `restore` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy import select, text

from bot.people.audit import cli_actor
from bot.storage.engine import make_engine
from bot.storage.models import AuditEntry, Base
from tests.support.cli import Cli
from tests.support.factories import add_account


def audit_rows(cli: Cli) -> list[AuditEntry]:
    with cli.runtime().sessions() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def wipe(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def test_backup_warns_the_keys_are_left_out_and_restore_brings_the_posts_back(
    cli: Cli, tmp_path: Path
) -> None:
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union", token="x-secret-token-123")
    added = cli("posts", "add", "--in", "2h", "--to", "x", "Demo at 8:30 outside HQ")
    assert added.exit_code == 0, added.output
    url = runtime.settings.database_url
    runtime.engine.dispose()

    archive = tmp_path / "clarion.tar.gz"
    made = cli("backup", str(archive))
    assert made.exit_code == 0, made.output
    assert "without secrets" in made.stdout
    assert "TOKEN_ENCRYPTION_KEYS" in made.stderr and "cannot be decrypted" in made.stderr

    refused = cli("restore", str(archive))
    assert refused.exit_code == 1
    assert "already holds data" in refused.output and "Traceback" not in refused.output

    wipe(url)
    settings = tmp_path / "restored.env"
    restored = cli("restore", str(archive), "--settings-to", str(settings))
    assert restored.exit_code == 0, restored.output
    assert "the stored account tokens open with TOKEN_ENCRYPTION_KEYS" in restored.stdout
    assert dotenv_values(settings)["TOKEN_ENCRYPTION_KEYS"] == ""
    listed = cli("posts", "list")
    assert "Demo at 8:30 outside HQ" in listed.output


def test_a_restore_is_audited_in_the_restored_database(cli: Cli, tmp_path: Path) -> None:
    runtime = cli.runtime()
    url = runtime.settings.database_url
    runtime.engine.dispose()
    archive = tmp_path / "clarion.tar.gz"
    assert cli("backup", str(archive)).exit_code == 0
    wipe(url)
    assert cli("restore", str(archive)).exit_code == 0
    [row] = [e for e in audit_rows(cli) if e.action == "backup.restore"]
    assert (row.subject, row.actor) == ("clarion.tar.gz", cli_actor())


def test_restore_of_a_file_that_is_not_a_backup_says_so_without_a_traceback(
    cli: Cli, tmp_path: Path
) -> None:
    bogus = tmp_path / "notes.tar.gz"
    bogus.write_text("shopping list")
    result = cli("restore", str(bogus))
    assert result.exit_code == 1
    assert "damaged or not a Clarion backup" in result.output
    missing = cli("restore", str(tmp_path / "nowhere.tar.gz"))
    assert "there is no backup file at" in missing.output


def test_backup_help_says_what_is_lost_without_the_keys(cli: Cli) -> None:
    result = cli("backup", "--help")
    assert "--with-keys" in result.output
    assert "cannot be decrypted after a restore" in " ".join(result.output.split())


def test_the_settings_copy_written_by_restore_is_readable_by_its_owner_only(
    cli: Cli, tmp_path: Path
) -> None:
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union", token="x-secret-token-123")
    runtime.engine.dispose()
    archive = tmp_path / "clarion.tar.gz"
    assert cli("backup", "--with-keys", str(archive)).exit_code == 0
    wipe(cli.runtime().settings.database_url)
    settings = tmp_path / "restored.env"
    restored = cli("restore", str(archive), "--settings-to", str(settings))
    assert restored.exit_code == 0, restored.output
    assert settings.stat().st_mode & 0o077 == 0
    assert dotenv_values(settings)["TOKEN_ENCRYPTION_KEYS"]
