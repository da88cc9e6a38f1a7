"""One-file backups of a Clarion database, and restoring them onto an empty one.

An archive is a gzipped tar holding ``manifest.json`` (what made it, from which database,
at which migration, and the SHA-256 of every other member), the database itself and a copy
of the settings:

- SQLite is copied with SQLite's online backup API, which gives a consistent snapshot
  while the daemon keeps writing (https://www.sqlite.org/backup.html).
- PostgreSQL is dumped by ``pg_dump --format=custom``, which reads in one snapshot
  transaction (https://www.postgresql.org/docs/current/app-pgdump.html).
- The settings copy leaves every secret out unless asked: without TOKEN_ENCRYPTION_KEYS
  the account tokens and supporters' emails stored in the database cannot be decrypted
  after a restore, so whoever restores needs the keys from somewhere safe.

A restore checks the whole archive (checksums, the migration revision is one this code
knows) before it touches the database, goes only onto a database that holds no data,
and then runs the migrations up to the current schema. A SQLite archive restores onto
SQLite or PostgreSQL (the way to move to PostgreSQL); a PostgreSQL archive onto
PostgreSQL only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from glob import glob
from importlib import metadata
from pathlib import Path
from typing import BinaryIO

from alembic.script import ScriptDirectory
from dotenv import dotenv_values
from sqlalchemy import Engine, func, inspect, make_url, select, text
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import SETTINGS, ConfigError, Secret
from bot.storage.engine import create_private_file, make_engine, sqlite_path
from bot.storage.job_tables import drop_schema, ensure_schema, is_procrastinate_table
from bot.storage.lock import AlreadyRunning, DaemonLock
from bot.storage.migrate import alembic_config, upgrade
from bot.storage.models import Account, Base
from bot.storage.vault import Vault, VaultError

logger = logging.getLogger(__name__)

ARCHIVE_FORMAT = 1
MANIFEST = "manifest.json"
SETTINGS_COPY = "settings.env"
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
COPY_BATCH_ROWS = 2000
REPORT_FROM_BYTES = 20_000_000  # files this large get progress while compressed
SECRET_SETTINGS = frozenset(s.name for s in SETTINGS if s.secret)
KEYS_SETTING = "TOKEN_ENCRYPTION_KEYS"

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


class DatabaseKind(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    @classmethod
    def of(cls, url: str) -> DatabaseKind:
        backend = make_url(url).get_backend_name()
        try:
            return cls(backend)
        except ValueError:
            raise BackupError(
                f"DATABASE_URL is a {backend} database: backup and restore know SQLite and "
                "PostgreSQL only"
            ) from None

    @property
    def member(self) -> str:
        return SQLITE_MEMBER if self is DatabaseKind.SQLITE else POSTGRES_MEMBER


@dataclass(frozen=True)
class Manifest:
    clarion_version: str
    alembic_revision: str
    database_kind: DatabaseKind
    created_at: str
    with_keys: bool
    members: dict[str, str] = field(default_factory=dict)  # name -> sha256
    format: int = ARCHIVE_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        try:
            data = json.loads(raw)
            if data["format"] != ARCHIVE_FORMAT:
                raise BackupError(
                    f"the archive is in backup format {data['format']}, this Clarion reads "
                    f"format {ARCHIVE_FORMAT}: restore it with the Clarion version that made "
                    f"it ({data.get('clarion_version', 'unknown')}) or a newer one"
                )
            return cls(
                clarion_version=str(data["clarion_version"]),
                alembic_revision=str(data["alembic_revision"]),
                database_kind=DatabaseKind(data["database_kind"]),
                created_at=str(data["created_at"]),
                with_keys=bool(data["with_keys"]),
                members={str(k): str(v) for k, v in dict(data["members"]).items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the archive's {MANIFEST} is not readable ({exc})") from None


def clarion_version() -> str:
    try:
        return metadata.version("clarion")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- settings copy ---------------------------------------------------------------------


def raw_settings(env_file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Each setting as written, from the environment, then the file, then its default:
    the same order as load_settings."""
    from_file: dict[str, str | None] = {}
    if env_file is not None and env_file.exists():
        from_file = dotenv_values(env_file)
    values = {}
    for setting in SETTINGS:
        value = environ.get(setting.name)
        if value is None:
            value = from_file.get(setting.name)
        values[setting.name] = setting.default if value is None else value
    return values


_PLAIN = re.compile(r"[A-Za-z0-9_./:,@+=%-]*")


def _env_value(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def settings_copy(values: Mapping[str, str], *, with_keys: bool) -> str:
    """A config.env for the restored server. Secrets (and a password in DATABASE_URL) are
    left out unless ``with_keys``."""
    lines = [
        "# Clarion settings copied by `python main.py backup`.",
        "# Values set in the environment of the backed-up process are included.",
    ]
    if not with_keys:
        lines.append(
            "# Secrets were left out (the backup was made without --with-keys): put them back "
            "by hand. Without the old TOKEN_ENCRYPTION_KEYS the stored tokens and emails "
            "cannot be decrypted."
        )
    for setting in SETTINGS:
        value = values.get(setting.name, setting.default)
        if not with_keys and setting.name in SECRET_SETTINGS and value:
            lines.append(f"# {setting.name}: secret, left out of this backup")
            value = ""
        elif not with_keys and setting.name == "DATABASE_URL":
            parsed = make_url(value)
            if parsed.password:
                lines.append("# DATABASE_URL: its password was left out of this backup")
                value = parsed.set(password="").render_as_string(hide_password=False)
        lines.append(f"{setting.name}={_env_value(value)}")
    return "\n".join(lines) + "\n"


# --- finding the PostgreSQL client -----------------------------------------------------


def postgres_tool(name: str) -> Path:
    """pg_dump or pg_restore: on the PATH (Debian's wrapper picks the newest installed
    version), else the newest under /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return Path(found)
    candidates = sorted(glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return Path(candidates[0])
    raise BackupError(
        f"{name} was not found: install the PostgreSQL client tools "
        "(Debian: `apt-get install postgresql-client`, the same major version as the server "
        "or newer) and try again"
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment carrying it
    (so it never shows in the process list)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run_tool(cmd: list[str], env: dict[str, str], progress: Progress, what: str) -> None:
    """Run pg_dump/pg_restore, passing its --verbose lines to ``progress``."""
    logger.debug("running %s", cmd[0])
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    tail: list[str] = []
    for line in proc.stderr:
        line = line.rstrip()
        tail = (tail + [line])[-10:]
        if "processing data for table" in line or "dumping contents of table" in line:
            progress(line.split(": ", 1)[-1])
    if proc.wait() != 0:
        problems = "\n  ".join(x for x in tail if "error" in x.lower()) or "\n  ".join(tail)
        raise BackupError(f"{what} failed:\n  {problems}")


# --- backup ----------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sqlite_copy(source: str, destination: Path, progress: Progress) -> None:
    """Copy in one backup step, which reads one snapshot while the daemon keeps writing
    (WAL lets a reader and writers run together). In several steps, a write by another
    connection between two steps restarts the copy from the beginning
    (https://www.sqlite.org/c3ref/backup_finish.html)."""
    size = Path(source).stat().st_size
    progress(f"copying the SQLite database {source} ({size / 1e6:.1f} MB)")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst, pages=-1)
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy the SQLite database {source} ({exc})") from None
    finally:
        dst.close()
        src.close()


def _sqlite_revision(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    finally:
        conn.close()
    if row is None:
        raise BackupError(
            "the database has no migration revision (alembic_version): is DATABASE_URL a "
            "Clarion database? `python main.py init` creates one"
        )
    return str(row[0])


def _postgres_revision(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    except Exception as exc:
        raise BackupError(
            f"could not read the database's migration revision ({type(exc).__name__}); is "
            "DATABASE_URL a Clarion database and the server running?"
        ) from None
    finally:
        engine.dispose()


def create_backup(
    database_url: str,
    destination: Path,
    *,
    settings: Mapping[str, str],
    with_keys: bool,
    progress: Progress = _quiet,
    now: datetime | None = None,
) -> Manifest:
    """Write an archive of the database and the settings to ``destination`` (replaced
    only once it is complete; readable by its owner only)."""
    kind = DatabaseKind.of(database_url)
    destination = destination.resolve()
    if destination.is_dir():
        raise BackupError(f"{destination} is a folder: give the archive's file name")
    if not destination.parent.is_dir():
        raise BackupError(f"the folder {destination.parent} does not exist")
    with tempfile.TemporaryDirectory(prefix="clarion-backup-") as work:
        folder = Path(work)
        dump = folder / kind.member
        if kind is DatabaseKind.SQLITE:
            path = sqlite_path(database_url)
            if path is None or not Path(path).exists():
                raise BackupError(f"there is no SQLite database file at {path or database_url}")
            _sqlite_copy(path, dump, progress)
            revision = _sqlite_revision(dump)
        else:
            revision = _postgres_revision(database_url)
            uri, env = _libpq(database_url)
            progress("dumping the PostgreSQL database with pg_dump")
            # Uncompressed: the archive's gzip compresses it once, and the no-secrets test
            # can read what is stored.
            _run_tool(
                [str(postgres_tool("pg_dump")), "--format=custom", "--compress=0", "--verbose",
                 f"--file={dump}", f"--dbname={uri}"],
                env, progress, "pg_dump",
            )  # fmt: skip
        (folder / SETTINGS_COPY).write_text(settings_copy(settings, with_keys=with_keys))
        members = [kind.member, SETTINGS_COPY]
        progress("checksumming")
        manifest = Manifest(
            clarion_version=clarion_version(),
            alembic_revision=revision,
            database_kind=kind,
            created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
            with_keys=with_keys,
            members={name: _sha256(folder / name) for name in members},
        )
        (folder / MANIFEST).write_text(manifest.to_json())
        partial = destination.with_name(f".{destination.name}.partial")
        progress(f"writing {destination}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for name in (MANIFEST, *members):
                    _add(tar, folder / name, progress)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)
    logger.info("backup written to %s (revision %s)", destination, revision)
    return manifest


class _Reporting:
    """A file read by tarfile, reporting each tenth of it: compressing a large database is
    the slow part of a backup."""

    def __init__(self, stream: BinaryIO, total: int, name: str, progress: Progress) -> None:
        self._stream, self._total, self._name, self._progress = stream, total, name, progress
        self._done = 0
        self._tenth = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._done += len(chunk)
        tenth = 10 * self._done // max(self._total, 1)
        if tenth > self._tenth:
            self._tenth = tenth
            self._progress(f"compressed {tenth * 10}% of {self._name}")
        return chunk


def _add(tar: tarfile.TarFile, path: Path, progress: Progress) -> None:
    info = tar.gettarinfo(str(path), arcname=path.name)
    with path.open("rb") as stream:
        if info.size < REPORT_FROM_BYTES:
            tar.addfile(info, stream)
        else:
            tar.addfile(info, _Reporting(stream, info.size, path.name, progress))


# --- reading an archive ----------------------------------------------------------------


@contextmanager
def opened_archive(archive: Path) -> Iterator[tuple[Manifest, Path]]:
    """The archive's manifest and a folder holding its members, every checksum verified.
    Refuses a damaged archive, one with members the manifest does not list, or links."""
    if not archive.is_file():
        raise BackupError(f"there is no backup file at {archive}")
    with tempfile.TemporaryDirectory(prefix="clarion-restore-") as work:
        folder = Path(work)
        try:
            with tarfile.open(archive, mode="r:gz") as tar:
                manifest = _extract(tar, folder)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise BackupError(
                f"{archive} is damaged or not a Clarion backup ({type(exc).__name__}: {exc}); "
                "nothing was restored"
            ) from None
        yield manifest, folder


def _extract(tar: tarfile.TarFile, folder: Path) -> Manifest:
    entries = {}
    for member in tar:
        if not member.isfile() or "/" in member.name or member.name.startswith("."):
            raise BackupError(f"the archive holds an unexpected entry {member.name!r}")
        entries[member.name] = member
    if MANIFEST not in entries:
        raise BackupError(f"the archive has no {MANIFEST}: it is not a Clarion backup")
    source = tar.extractfile(entries[MANIFEST])
    assert source is not None
    manifest = Manifest.from_json(source.read())
    missing = {manifest.database_kind.member, SETTINGS_COPY} - set(manifest.members)
    if missing:
        raise BackupError(f"the archive's manifest lists no {', '.join(sorted(missing))}")
    expected = {MANIFEST, *manifest.members}
    if set(entries) != expected:
        odd = sorted(set(entries) ^ expected)
        raise BackupError(f"the archive's members do not match its manifest: {', '.join(odd)}")
    for name, checksum in manifest.members.items():
        digest = hashlib.sha256()
        stream = tar.extractfile(entries[name])
        assert stream is not None
        with (folder / name).open("wb") as out:
            for chunk in iter(lambda: stream.read(1 << 20), b""):  # noqa: B023
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != checksum:
            raise BackupError(
                f"{name} in the archive does not match its checksum: the file is damaged; "
                "nothing was restored"
            )
    return manifest


def read_manifest(archive: Path) -> Manifest:
    with opened_archive(archive) as (manifest, _folder):
        return manifest


# --- restore ---------------------------------------------------------------------------


def known_revisions(database_url: str) -> set[str]:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    return {rev.revision for rev in script.walk_revisions()}


def data_tables(engine: Engine) -> dict[str, int]:
    """Every table (but alembic_version and the job queue's, which hold no campaign data)
    with its row count."""
    counts = {}
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            if name != "alembic_version" and not is_procrastinate_table(name):
                quoted = engine.dialect.identifier_preparer.quote(name)
                counts[name] = int(
                    conn.execute(text(f"SELECT count(*) FROM {quoted}")).scalar_one()
                )
    return counts


def _refuse_unless_empty(engine: Engine) -> None:
    held = {name: n for name, n in data_tables(engine).items() if n}
    if held:
        shown = ", ".join(f"{n} {name}" for name, n in sorted(held.items()))
        raise BackupError(
            f"the database at DATABASE_URL already holds data ({shown}): restore goes only "
            "onto an empty database. Create a new one (or give a new SQLite file) in "
            "DATABASE_URL and restore there"
        )


def _drop_all(engine: Engine) -> None:
    """Drop the (empty) tables a fresh `init` may have made, so the archive's schema
    replaces them whole."""
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        # The job queue's types and functions too: a PostgreSQL dump recreates them.
        drop_schema(conn)
        names = inspect(conn).get_table_names()
        preparer = engine.dialect.identifier_preparer
        for name in names:
            conn.execute(text(f"DROP TABLE IF EXISTS {preparer.quote(name)}"))


def restore_backup(archive: Path, database_url: str, *, progress: Progress = _quiet) -> Manifest:
    """Restore ``archive`` onto the empty database at ``database_url``, then migrate it to
    the current schema. Nothing is written unless every check passes first."""
    target = DatabaseKind.of(database_url)
    with opened_archive(archive) as (manifest, folder):
        progress(
            f"archive checked: {manifest.database_kind} database at revision "
            f"{manifest.alembic_revision}, made {manifest.created_at} by Clarion "
            f"{manifest.clarion_version}"
        )
        if manifest.alembic_revision not in known_revisions(database_url):
            raise BackupError(
                f"the archive's database is at migration {manifest.alembic_revision}, which "
                f"this Clarion ({clarion_version()}) does not know: it was made by a newer "
                "version. Install that version (or newer) and restore with it"
            )
        if manifest.database_kind is DatabaseKind.POSTGRESQL and target is DatabaseKind.SQLITE:
            raise BackupError(
                "this is a PostgreSQL backup: it restores onto PostgreSQL only. Point "
                "DATABASE_URL at an empty PostgreSQL database"
            )
        try:
            _restore_into(manifest, folder, database_url, progress)
            progress("running the migrations up to the current schema")
            upgrade(database_url)
            _ensure_job_tables(database_url)
        except (SQLAlchemyError, OSError) as exc:
            raise BackupError(
                f"cannot restore into the database at DATABASE_URL ({type(exc).__name__}: "
                f"{exc}); check the setting, that the folder or server exists, and that "
                "this user may write to it"
            ) from None
    logger.info(
        "restored %s onto the database (from revision %s)", archive, manifest.alembic_revision
    )
    return manifest


def _ensure_job_tables(database_url: str) -> None:
    """A SQLite backup restored onto PostgreSQL past migration 0015 never ran it there."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            ensure_schema(conn)
    finally:
        engine.dispose()


def _restore_into(manifest: Manifest, folder: Path, database_url: str, progress: Progress) -> None:
    target = DatabaseKind.of(database_url)
    engine = make_engine(database_url)
    lock = DaemonLock(engine, database_url)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        engine.dispose()
        raise BackupError(f"{exc}; a restore needs the database to itself") from None
    try:
        _refuse_unless_empty(engine)
        dump = folder / manifest.database_kind.member
        if manifest.database_kind is DatabaseKind.SQLITE:
            _check_sqlite_file(dump)
        if target is DatabaseKind.SQLITE:
            _restore_sqlite(dump, database_url, engine, progress)
        elif manifest.database_kind is DatabaseKind.POSTGRESQL:
            _restore_postgres(dump, database_url, engine, progress)
        else:
            _copy_sqlite_into(dump, engine, database_url, progress)
    finally:
        lock.release()
        engine.dispose()


def _check_sqlite_file(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        result = (str(exc),)
    finally:
        conn.close()
    if result is None or result[0] != "ok":
        raise BackupError(f"the archived SQLite database fails its integrity check ({result})")


def _restore_sqlite(dump: Path, url: str, engine: Engine, progress: Progress) -> None:
    path = sqlite_path(url)
    if path is None:
        raise BackupError("DATABASE_URL must name a SQLite file to restore into")
    engine.dispose()
    progress(f"copying into {path}")
    create_private_file(path)
    src = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    dst = sqlite3.connect(path)
    try:
        # The backup API writes the whole destination in one transaction: all or nothing.
        src.backup(dst, pages=-1)
    except sqlite3.Error as exc:
        raise BackupError(f"could not write {path} ({exc}); it was left as it was") from None
    finally:
        dst.close()
        src.close()


def _restore_postgres(dump: Path, url: str, engine: Engine, progress: Progress) -> None:
    _drop_all(engine)
    uri, env = _libpq(url)
    progress("restoring with pg_restore (one transaction)")
    _run_tool(
        [str(postgres_tool("pg_restore")), "--single-transaction", "--exit-on-error",
         "--no-owner", "--no-privileges", "--verbose", f"--dbname={uri}", str(dump)],
        env, progress, "pg_restore",
    )  # fmt: skip


def _copy_sqlite_into(dump: Path, engine: Engine, url: str, progress: Progress) -> None:
    """A SQLite archive onto PostgreSQL: bring a scratch copy of the archived file to the
    current schema, make the same schema on the target, and copy every table's rows in
    one transaction (typed through the models, so times and JSON arrive intact)."""
    sqlite_url = f"sqlite:///{dump}"
    progress("bringing the archived SQLite database to the current schema")
    upgrade(sqlite_url)
    _drop_all(engine)
    upgrade(url)
    source = make_engine(sqlite_url)
    try:
        with source.connect() as read, engine.begin() as write:
            for table in Base.metadata.sorted_tables:
                total = read.execute(select(func.count()).select_from(table)).scalar_one()
                rows_word = "row" if total == 1 else "rows"
                progress(f"copying {total} {rows_word} of {table.name}")
                rows = read.execute(select(table)).mappings()
                while batch := rows.fetchmany(COPY_BATCH_ROWS):
                    write.execute(table.insert(), [dict(r) for r in batch])
            for table in Base.metadata.sorted_tables:
                for column in table.primary_key.columns:
                    if column.autoincrement is True or (
                        column.autoincrement == "auto"
                        and len(table.primary_key.columns) == 1
                        and column.type.python_type is int
                    ):
                        # Rows arrived with their ids: move each serial past the highest.
                        write.execute(
                            text(
                                "SELECT setval(pg_get_serial_sequence(:t, :c), "
                                f"coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1,"
                                " false)"
                            ),
                            {"t": table.name, "c": column.name},
                        )
    finally:
        source.dispose()


class KeyCheck(StrEnum):
    """Whether TOKEN_ENCRYPTION_KEYS opens what a restored database holds sealed."""

    OPENS = "opens"
    NOTHING_SEALED = "nothing_sealed"
    NO_KEY = "no_key"
    WRONG_KEY = "wrong_key"


def check_keys(database_url: str, keys: Secret) -> KeyCheck:
    """Try the configured keys on one stored account token."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            sealed = conn.execute(
                select(Account.credentials).where(Account.credentials != "").limit(1)
            ).scalar()
    finally:
        engine.dispose()
    if not sealed:
        return KeyCheck.NOTHING_SEALED
    if not keys:
        return KeyCheck.NO_KEY
    try:
        Vault(keys).open(sealed)
    except (VaultError, ConfigError):
        return KeyCheck.WRONG_KEY
    return KeyCheck.OPENS
