"""Backups: a database with posts, deliveries, pledges and engagement comes back whole,
secrets stay out unless asked for, and a damaged or foreign archive is refused."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from dotenv import dotenv_values
from sqlalchemy import Engine, inspect, select, text, update

from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import add_pledge
from bot.settings import SETTINGS, Secret
from bot.storage import backup
from bot.storage.backup import (
    MANIFEST,
    BackupError,
    DatabaseKind,
    KeyCheck,
    check_keys,
    create_backup,
    opened_archive,
    read_manifest,
    restore_backup,
    settings_copy,
)
from bot.storage.engine import make_engine, make_session_factory
from bot.storage.job_tables import drop_schema, is_procrastinate_table
from bot.storage.lock import DaemonLock
from bot.storage.migrate import alembic_config, upgrade
from bot.storage.models import (
    Base,
    Campaign,
    Delivery,
    DeliveryState,
    EngagementSnapshot,
    PledgeCampaign,
)
from bot.storage.vault import Vault, generate_key
from tests.support.factories import add_account, queue, spec

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TOKEN = "plaintext-campaign-token-4d2f"
SUPPORTER_TOKEN = "plaintext-supporter-token-9a1c"


def head(url: str) -> str:
    revision = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert revision is not None
    return revision


def fill(url: str, vault: Vault) -> None:
    """Posts with deliveries (one sent, with its engagement), a pledge campaign with a
    picture, and a pledge whose token and email are sealed."""
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    add_account(sessions, vault, "x", "union", token=TOKEN)
    add_account(sessions, vault, "facebook", "unionpage", token="page-token")
    queue(
        sessions,
        spec("Demo at 8:30 outside HQ", to=("x", "facebook"), key="demo", at=NOW),
        spec("1/ Ballot: 87% yes", thread=("1/ Ballot: 87% yes", "2/ Turnout 71%"), at=NOW),
        now=NOW - timedelta(hours=1),
    )
    with sessions() as session:
        sent = session.scalars(select(Delivery).order_by(Delivery.id)).first()
        assert sent is not None
        session.execute(
            update(Delivery)
            .where(Delivery.id == sent.id)
            .values(
                state=DeliveryState.SENT,
                platform_ids=["1799"],
                url="https://x.com/union/status/1799",
                sent_at=NOW,
            )
        )
        for metric, value in (("likes", 12), ("reposts", 3), ("views", None)):
            session.add(
                EngagementSnapshot(
                    delivery_id=sent.id,
                    post_id=sent.post_id,
                    platform="x",
                    taken_at=NOW + timedelta(hours=1),
                    label="1h",
                    metric=metric,
                    value=value,
                    available=value is not None,
                    source="x",
                )
            )
        pc = PledgeCampaign(
            campaign=Campaign(slug="fujitsu", title="Defend the union", timezone="Europe/London"),
            description="Stop the victimisation of reps",
            message={"x": "Stop victimising reps", "facebook": "Stop it now"},
            variants=["Reinstate the reps"],
            link="https://union.example.org/fujitsu",
            goal=3,
            release_at=NOW + timedelta(days=2),
            timezone="Europe/London",
            image_data=b"\x89PNG\r\n\x1a\n\x00binary\xff",
            image_type="image/png",
            image_alt="Reps outside HQ",
        )
        session.add(pc)
        session.commit()
        add_pledge(
            session,
            vault,
            pc,
            "x",
            Credentials(SUPPORTER_TOKEN, "supporter-secret", "u-42"),
            AccountInfo("u-42", "supporter", "A Supporter", 250),
            email="rep@example.org",
            now=NOW,
        )
    engine.dispose()


def everything(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, typed through the models, in primary-key order; the
    reflected table names must be exactly the models' ones (plus alembic_version)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # Procrastinate's job queue (PostgreSQL only) is not campaign data.
            names = {n for n in inspect(conn).get_table_names() if not is_procrastinate_table(n)}
            assert names == set(Base.metadata.tables) | {"alembic_version"}
            rows = {
                table.name: [
                    tuple(row)
                    for row in conn.execute(
                        select(table).order_by(*table.primary_key.columns)
                    ).all()
                ]
                for table in Base.metadata.sorted_tables
            }
            rows["alembic_version"] = [
                tuple(r) for r in conn.execute(text("SELECT version_num FROM alembic_version"))
            ]
            return rows
    finally:
        engine.dispose()


def wipe(url: str) -> None:
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        drop_schema(conn)  # Procrastinate's, on PostgreSQL
    engine.dispose()


def settings_with(key: str, **more: str) -> dict[str, str]:
    values = {s.name: s.default for s in SETTINGS}
    values.update(TOKEN_ENCRYPTION_KEYS=key, X_ACCESS_TOKEN=TOKEN, **more)
    return values


def archive_bytes(path: Path) -> bytes:
    """The archive as stored, and decompressed: a secret must be in neither."""
    raw = path.read_bytes()
    return raw + gzip.decompress(raw)


def test_a_backup_restored_onto_an_empty_database_has_every_row_of_every_table(
    empty_database: str, tmp_path: Path
) -> None:
    key = generate_key()
    fill(empty_database, Vault(Secret(key)))
    before = everything(empty_database)
    assert before["posts"] and before["deliveries"] and before["pledges"]
    assert len(before["engagement_snapshots"]) == 3
    archive = tmp_path / "clarion.tar.gz"
    manifest = create_backup(empty_database, archive, settings=settings_with(key), with_keys=False)
    assert manifest.alembic_revision == head(empty_database)
    assert manifest.database_kind is DatabaseKind.of(empty_database)
    wipe(empty_database)
    steps: list[str] = []
    restore_backup(archive, empty_database, progress=steps.append)
    assert everything(empty_database) == before
    assert any("archive checked" in step for step in steps)
    assert check_keys(empty_database, Secret(key)) is KeyCheck.OPENS
    assert check_keys(empty_database, Secret(generate_key())) is KeyCheck.WRONG_KEY


def test_a_sqlite_backup_restores_onto_the_database_under_test_whatever_its_kind(
    empty_database: str, tmp_path: Path
) -> None:
    # On the PostgreSQL pass this is the documented move from SQLite to PostgreSQL.
    source = f"sqlite:///{tmp_path / 'old.db'}"
    key = generate_key()
    fill(source, Vault(Secret(key)))
    archive = tmp_path / "old.tar.gz"
    create_backup(source, archive, settings=settings_with(key), with_keys=False)
    restore_backup(archive, empty_database)
    assert everything(empty_database) == everything(source)
    # New rows get fresh ids after the restored ones (PostgreSQL's sequences moved on).
    engine = make_engine(empty_database)
    sessions = make_session_factory(engine)
    new_id = add_account(sessions, Vault(Secret(key)), "x", "newcomer")
    engine.dispose()
    assert new_id > max(row[0] for row in everything(source)["accounts"])


def test_moving_from_sqlite_counts_each_tables_rows_in_the_right_number(
    empty_database: str, tmp_path: Path
) -> None:
    if DatabaseKind.of(empty_database) is DatabaseKind.SQLITE:
        pytest.skip("rows are copied table by table only onto PostgreSQL")
    source = f"sqlite:///{tmp_path / 'old.db'}"
    key = generate_key()
    fill(source, Vault(Secret(key)))
    archive = tmp_path / "old.tar.gz"
    create_backup(source, archive, settings=settings_with(key), with_keys=False)
    steps: list[str] = []
    restore_backup(archive, empty_database, progress=steps.append)
    copied = [step for step in steps if step.startswith("copying ")]
    assert "copying 0 rows of alerts" in copied
    assert any(step.startswith("copying 1 row of ") for step in copied), copied
    assert not any(step.startswith("copying 1 rows") for step in copied), copied


def test_without_keys_the_archive_holds_neither_the_key_nor_a_token_and_with_them_it_does(
    empty_database: str, tmp_path: Path
) -> None:
    key = generate_key()
    fill(empty_database, Vault(Secret(key)))
    values = settings_with(key, SMTP_PASSWORD="smtp-pass-77", WEB_SECRET_KEY="web-secret-88")
    plain = tmp_path / "plain.tar.gz"
    create_backup(empty_database, plain, settings=values, with_keys=False)
    stored = archive_bytes(plain)
    for secret in (key, TOKEN, SUPPORTER_TOKEN, "rep@example.org", "smtp-pass-77", "web-secret-88"):
        assert secret.encode() not in stored, secret
    assert plain.stat().st_mode & 0o077 == 0
    keyed = tmp_path / "keyed.tar.gz"
    create_backup(empty_database, keyed, settings=values, with_keys=True)
    assert key.encode() in archive_bytes(keyed)
    assert read_manifest(keyed).with_keys and not read_manifest(plain).with_keys


def test_the_settings_copy_reads_back_with_secrets_and_the_database_password_left_out() -> None:
    values = settings_with(
        "k" * 44,
        DATABASE_URL="postgresql+psycopg://clarion:hunter2@db.example/clarion",
        MAIL_FROM='"Union" <clarion@union.example>',
    )
    path_text = settings_copy(values, with_keys=False)
    assert "hunter2" not in path_text and "k" * 44 not in path_text
    parsed = dotenv_values(stream=io.StringIO(path_text))
    assert parsed["TOKEN_ENCRYPTION_KEYS"] == "" and parsed["X_ACCESS_TOKEN"] == ""
    assert parsed["MAIL_FROM"] == '"Union" <clarion@union.example>'
    assert parsed["DATABASE_URL"] == "postgresql+psycopg://clarion:@db.example/clarion"
    kept = dotenv_values(stream=io.StringIO(settings_copy(values, with_keys=True)))
    assert kept["TOKEN_ENCRYPTION_KEYS"] == "k" * 44
    assert kept["DATABASE_URL"] == values["DATABASE_URL"]


@pytest.fixture
def archive(empty_database: str, tmp_path: Path) -> Path:
    key = generate_key()
    fill(empty_database, Vault(Secret(key)))
    path = tmp_path / "clarion.tar.gz"
    create_backup(empty_database, path, settings=settings_with(key), with_keys=False)
    wipe(empty_database)
    return path


def is_empty(url: str) -> bool:
    engine = make_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def rewrite(archive: Path, change: Any) -> None:
    """Rewrite the archive with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive, "r:gz") as tar:
        members = {}
        for m in tar.getmembers():
            stream = tar.extractfile(m)
            assert stream is not None
            members[m.name] = stream.read()
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            data = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_truncated_archive_is_refused_and_nothing_is_written(
    archive: Path, empty_database: str
) -> None:
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(BackupError, match="damaged"):
        restore_backup(archive, empty_database)
    assert is_empty(empty_database)


def test_a_member_that_no_longer_matches_its_checksum_is_refused(
    archive: Path, empty_database: str
) -> None:
    def flip(name: str, data: bytes) -> bytes:
        if name.startswith("database."):
            middle = len(data) // 2
            return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        return data

    rewrite(archive, flip)
    with pytest.raises(BackupError, match="does not match its checksum"):
        restore_backup(archive, empty_database)
    assert is_empty(empty_database)


def test_an_archive_from_a_newer_migration_is_refused(archive: Path, empty_database: str) -> None:
    def future(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["alembic_revision"] = "0099_from_the_future"
        return json.dumps(manifest).encode()

    rewrite(archive, future)
    with pytest.raises(BackupError, match="0099_from_the_future.*newer version"):
        restore_backup(archive, empty_database)
    assert is_empty(empty_database)


def test_a_database_that_holds_data_is_refused(archive: Path, empty_database: str) -> None:
    restore_backup(archive, empty_database)
    before = everything(empty_database)
    with pytest.raises(BackupError, match="already holds data.*posts"):
        restore_backup(archive, empty_database)
    assert everything(empty_database) == before


def test_a_freshly_initialised_database_counts_as_empty(archive: Path, empty_database: str) -> None:
    upgrade(empty_database)  # what `init` leaves: every table, no rows
    restore_backup(archive, empty_database)
    assert everything(empty_database)["pledges"]


def test_a_restore_is_refused_while_a_daemon_holds_the_database(
    archive: Path, empty_database: str
) -> None:
    engine: Engine = make_engine(empty_database)
    try:
        with (
            DaemonLock(engine, empty_database),
            pytest.raises(BackupError, match="already running.*to itself"),
        ):
            restore_backup(archive, empty_database)
    finally:
        engine.dispose()
    assert is_empty(empty_database)


def test_a_postgresql_backup_is_not_restored_onto_sqlite(archive: Path, tmp_path: Path) -> None:
    def as_postgres(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["database_kind"] = "postgresql"
        manifest["members"] = {
            ("database.pgdump" if k.startswith("database.") else k): v
            for k, v in manifest["members"].items()
        }
        return json.dumps(manifest).encode()

    def renamed(name: str) -> str:
        return "database.pgdump" if name.startswith("database.") else name

    with tarfile.open(archive, "r:gz") as tar:
        members = {}
        for m in tar.getmembers():
            stream = tar.extractfile(m)
            assert stream is not None
            members[renamed(m.name)] = as_postgres(m.name, stream.read())
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(BackupError, match="PostgreSQL backup.*onto PostgreSQL only"):
        restore_backup(archive, f"sqlite:///{tmp_path / 'new.db'}")


def test_a_backup_taken_while_another_process_keeps_writing_finishes_and_is_consistent(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    key = generate_key()
    fill(url, Vault(Secret(key)))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('PRAGMA journal_mode=WAL')\n"
            "db.execute('CREATE TABLE IF NOT EXISTS churn (n INTEGER)')\n"
            "db.execute('INSERT INTO churn VALUES (1)')\n"
            "print('ready', flush=True)\n"
            "while True:\n"
            "    db.execute('INSERT INTO churn VALUES (1)')\n",
            str(tmp_path / "busy.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        archive = tmp_path / "busy.tar.gz"
        create_backup(url, archive, settings=settings_with(key), with_keys=False)
    finally:
        writer.kill()
        writer.wait()
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    with opened_archive(archive) as (_manifest, folder):
        check = sqlite3.connect(folder / "database.sqlite3")
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert check.execute("SELECT count(*) FROM churn").fetchone()[0] > 0
        check.close()
    restore_backup(archive, target)
    restored = sqlite3.connect(tmp_path / "copy.db")
    assert restored.execute("SELECT count(*) FROM pledges").fetchone() == (1,)
    restored.close()


def test_a_large_database_reports_progress_while_it_is_compressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backup, "REPORT_FROM_BYTES", 0)
    url = f"sqlite:///{tmp_path / 'clarion.db'}"
    fill(url, Vault(Secret(generate_key())))
    steps: list[str] = []
    create_backup(url, tmp_path / "b.tar.gz", settings={}, with_keys=False, progress=steps.append)
    assert "compressed 100% of database.sqlite3" in steps
    assert any(step.startswith("copying the SQLite database") for step in steps)


def test_a_restore_into_a_folder_that_does_not_exist_says_what_to_check(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'clarion.db'}"
    fill(source, Vault(Secret(generate_key())))
    create_backup(source, tmp_path / "b.tar.gz", settings={}, with_keys=False)
    with pytest.raises(BackupError, match="cannot restore into the database at DATABASE_URL"):
        restore_backup(tmp_path / "b.tar.gz", f"sqlite:///{tmp_path / 'nowhere' / 'clarion.db'}")


def test_an_archive_without_its_database_is_refused(archive: Path, empty_database: str) -> None:
    def without_database(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        manifest = json.loads(data)
        manifest["members"] = {k: v for k, v in manifest["members"].items() if "database" not in k}
        return json.dumps(manifest).encode()

    rewrite(archive, without_database)
    with pytest.raises(BackupError, match="lists no database"):
        restore_backup(archive, empty_database)
    assert is_empty(empty_database)
