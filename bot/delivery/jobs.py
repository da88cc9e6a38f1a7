"""Procrastinate, on the ledger's own PostgreSQL, as the wake-up call of scaled-out workers.

A job says only "deliveries fall due at this time: claim and send them"; it carries no
delivery. The worker that runs it wakes its dispatcher, which claims what is due with the
ledger's conditional UPDATEs (bot/delivery/ledger.py), so a job run twice, late, or by
every worker at once sends nothing twice: the ledger stays the truth, the job queue is
only the clock. Procrastinate's LISTEN/NOTIFY wakes an idle worker as soon as a job is
deferred (https://procrastinate.readthedocs.io/en/stable/howto/production/notifications.html).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

QUEUE = "clarion-deliveries"
TASK = "clarion.deliveries_due"
# The key under which a worker hands its dispatcher's ``wake`` to the task.
WAKE = "wake"


def conninfo(database_url: str) -> str:
    """DATABASE_URL (SQLAlchemy's ``postgresql+psycopg://``) as libpq's URL."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def make_app(database_url: str, *, pool_size: int = 4) -> App:
    """A Procrastinate app on the ledger's database, with the one task Clarion runs."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # Procrastinate logs every job deferred, started and finished at INFO: a release
        # spread over many due times would drown what Clarion says about the posts.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = App(
        connector=PsycopgConnector(
            conninfo=conninfo(database_url), min_size=1, max_size=max(2, pool_size)
        )
    )

    @app.task(name=TASK, queue=QUEUE, pass_context=True)
    async def deliveries_due(context: JobContext, due_at: str) -> None:
        wake: Callable[[], None] | None = context.additional_context.get(WAKE)
        if wake is None:
            logger.warning("a delivery job ran outside a Clarion worker; nothing was claimed")
            return
        logger.debug("deliveries due at %s: waking the dispatcher", due_at)
        wake()

    return app


async def defer_due(app: App, due_at: datetime | None, copy: int) -> bool:
    """Defer copy number ``copy`` of the job for ``due_at`` (None: for what is due now);
    False when that copy is already waiting. The queueing lock names the due time and the
    copy, so planning the same time again on the next poll, or by a scheduler that has
    just taken over, adds nothing (Procrastinate refuses a second waiting job under one
    lock: https://procrastinate.readthedocs.io/en/stable/howto/advanced/queueing_locks.html)."""
    key = "now" if due_at is None else due_at.isoformat()
    deferrer = app.configure_task(
        TASK, queueing_lock=f"clarion:{key}:{copy}", schedule_at=due_at, queue=QUEUE
    )
    try:
        await deferrer.defer_async(due_at=key)
    except AlreadyEnqueued:
        return False
    return True
