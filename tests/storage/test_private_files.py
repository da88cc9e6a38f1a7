"""The database, its WAL files and the file holding the keys are readable by their owner
only, whatever the umask."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli import main
from bot.storage.engine import make_engine

ROOT = Path(__file__).parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default, under which a new file is readable by everyone."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_init_creates_the_database_its_wal_files_and_config_env_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "config.env.example", tmp_path / "config.env.example")
    database = tmp_path / "clarion.db"
    result = CliRunner(env={"DATABASE_URL": f"sqlite:///{database}"}).invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert mode(tmp_path / "config.env") == 0o600
    assert mode(database) == 0o600
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:  # a write makes SQLite create -wal and -shm
        connection.execute(text("CREATE TABLE probe (x INTEGER)"))
        for suffix in ("-wal", "-shm"):
            assert mode(Path(f"{database}{suffix}")) == 0o600, suffix
    engine.dispose()


def test_init_makes_an_existing_world_readable_database_and_config_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "config.env.example", tmp_path / "config.env")
    database = tmp_path / "clarion.db"
    database.touch(mode=0o644)
    (tmp_path / "config.env").chmod(0o644)
    result = CliRunner(env={"DATABASE_URL": f"sqlite:///{database}"}).invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    assert mode(tmp_path / "config.env") == 0o600 and mode(database) == 0o600
    assert "readable by its owner only" in result.output


def test_a_database_the_daemon_creates_is_0600_too(tmp_path: Path, open_umask: None) -> None:
    database = tmp_path / "new.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert mode(database) == 0o600
