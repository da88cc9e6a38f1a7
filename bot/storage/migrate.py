"""Run Alembic migrations programmatically (no alembic.ini to keep in step)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(url: str) -> None:
    """Bring the database to the newest schema; safe to run every start."""
    command.upgrade(alembic_config(url), "head")


def head_revisions() -> frozenset[str]:
    """The newest revision(s) this code knows (Alembic's heads)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("")).get_heads())


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revision(s) the database is at (empty: never migrated)."""
    return frozenset(MigrationContext.configure(connection).get_current_heads())
