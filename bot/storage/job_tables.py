"""Procrastinate's tables in Clarion's PostgreSQL database (migration 0015): the job queue
of scaled-out workers (bot/delivery/jobs.py). Clarion's models do not describe them."""

from __future__ import annotations

from sqlalchemy import Connection, text

# Undoes Procrastinate's schema (migration 0015's downgrade; the test suite's clean slate).
DROP_SCHEMA = r"""
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
    procrastinate_jobs, procrastinate_workers CASCADE;
DO $$
DECLARE f record;
BEGIN
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || f.sig || ' CASCADE';
    END LOOP;
END $$;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
    procrastinate_job_status CASCADE;
"""


def is_procrastinate_table(name: str | None) -> bool:
    """Procrastinate's own tables, which Clarion's models do not describe."""
    return bool(name) and str(name).startswith("procrastinate_")


def ensure_schema(connection: Connection) -> bool:
    """Create Procrastinate's schema on a PostgreSQL connection that lacks it (migration
    0015; a restore of a backup made from SQLite, which never had it). True if created."""
    if connection.dialect.name != "postgresql":
        return False
    if connection.execute(text("SELECT to_regclass('procrastinate_jobs')")).scalar() is not None:
        return False
    from procrastinate.schema import SchemaManager

    # The driver's own cursor, without parameters: the schema is many statements, with
    # colons and percent signs that SQLAlchemy's text() and paramstyles would misread.
    connection.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]
    return True


def drop_schema(connection: Connection) -> None:
    """Drop Procrastinate's schema, if there (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.connection.driver_connection.execute(DROP_SCHEMA)  # type: ignore[union-attr]
