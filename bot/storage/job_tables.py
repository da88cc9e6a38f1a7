"""Procrastinate's tables in Clarion's PostgreSQL database (migration 0015): the job queue
of scaled-out workers (bot/delivery/jobs.py). Clarion's models do not describe them."""

from __future__ import annotations

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
