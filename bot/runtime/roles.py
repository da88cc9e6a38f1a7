"""`run --role`: what one process of a scaled-out Clarion starts.

``all`` (the default) is the single-machine daemon with the pages, as ever; ``web`` only
serves the pages and the console and never sends (``ProcessOptions(post=False)``, the
`web` command's process). ``scheduler`` and ``worker`` split the daemon across processes
and machines on PostgreSQL (bot/delivery/roles.py): they refuse SQLite, whose one file
cannot be shared between machines and whose lock would not let them run together.

A scheduler or a worker serves /healthz, /readyz (its own readiness: ``RoleReadiness``)
and /metrics (with its own figures) on METRICS_BIND when that is set: one address per
process, so each process on a machine needs a port of its own, and a port already taken
stops the start with a message saying so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import replace
from datetime import timedelta
from enum import StrEnum
from typing import Protocol

from bot.alerts.watcher import periodic as alert_jobs
from bot.campaigns.accounts import sync_config_accounts
from bot.delivery.leases import settle_wait
from bot.delivery.roles import Scheduler, Worker
from bot.delivery.shared_limits import SharedLimits
from bot.monitoring.health import RoleReadiness
from bot.platforms.base import PlatformError
from bot.pledges.jobs import periodic as pledge_jobs
from bot.runtime.process import (
    ProcessOptions,
    Say,
    StartError,
    embedded_sandbox,
    engagement_job,
    serve_health,
    start_everything,
)
from bot.runtime.wiring import Runtime
from bot.settings import ConfigError
from bot.storage.lock import AlreadyRunning

logger = logging.getLogger(__name__)


class Role(StrEnum):
    ALL = "all"
    SCHEDULER = "scheduler"
    WORKER = "worker"
    WEB = "web"


class Running(Protocol):
    """What a started process offers the `run` command."""

    runtime: Runtime
    web_address: str | None

    @property
    def stopping(self) -> bool: ...

    @property
    def failure(self) -> str | None: ...

    def stop(self) -> None: ...


def start_role(runtime: Runtime, role: Role, options: ProcessOptions, say: Say) -> Running:
    """Start ``role`` on ``runtime``'s database; ``StartError`` when it cannot."""
    if role is Role.ALL:
        return start_everything(runtime, options, say)
    if role is Role.WEB:
        return start_everything(runtime, replace(options, post=False), say)
    if runtime.engine.dialect.name != "postgresql":
        raise StartError(
            f"--role {role} needs PostgreSQL: schedulers and workers share one database "
            "from several processes and machines, which a SQLite file cannot do. On one "
            "machine run `python main.py run` (the default, --role all); to scale out, "
            "point DATABASE_URL at PostgreSQL (see docs/scale-out.md)"
        )
    stack = contextlib.ExitStack()
    try:
        return _start(runtime, role, options, say, stack)
    except BaseException:
        stack.close()
        raise


def _start(
    runtime: Runtime, role: Role, options: ProcessOptions, say: Say, stack: contextlib.ExitStack
) -> Running:
    settings = runtime.settings
    try:
        runtime.vault  # noqa: B018 - fail now, not at the first post
    except ConfigError as exc:
        raise StartError(str(exc)) from None
    if settings.uses_sandbox:
        if not settings.sandbox_url:
            raise StartError(
                f"--role {role} on the sandbox needs SANDBOX_URL: every process must talk "
                "to one shared sandbox (start one with `python -m bot.sandbox`)"
            )
        url, admin = embedded_sandbox(settings, stack)
        runtime = runtime.with_sandbox(url, admin.app())
        say(f"SANDBOX MODE: posts go to the sandbox at {url}; nothing reaches real accounts.")
    elif role is Role.SCHEDULER:
        try:
            for line in sync_config_accounts(runtime):
                say(line)
        except PlatformError as exc:
            raise StartError(
                f"a campaign token in config.env does not work: {exc.message}"
            ) from None
    part: Scheduler | Worker
    if role is Role.SCHEDULER:
        part = Scheduler(
            runtime.ledger(),
            settings.database_url,
            poll_interval=settings.poll_interval_seconds,
            grace=timedelta(minutes=settings.missed_grace_minutes),
            # A dead worker's claim is settled once no send it began can still land.
            lease_after=timedelta(seconds=settle_wait(settings.http_timeout_seconds)),
            on_missed=options.on_missed,
            periodic=[engagement_job(runtime), *pledge_jobs(runtime), *alert_jobs(runtime)],
        )
    else:
        deliverer = runtime.deliverer()
        part = Worker(
            deliverer,
            deliverer.ledger,
            settings.database_url,
            poll_interval=settings.poll_interval_seconds,
            concurrency=settings.delivery_concurrency,
            max_in_flight=settings.delivery_max_in_flight,
            http_timeout=settings.http_timeout_seconds,
            stale_after=settings.http_timeout_seconds + 60,
            limits=SharedLimits.from_settings(runtime.sessions, settings),
        )
    # Bound before the role starts, so a port already taken stops a scheduler before it
    # takes over, and a worker before it claims anything.
    runtime.metrics.watch_role(role, part.name, part.figures)
    served = serve_health(
        runtime,
        stack,
        say,
        required=True,
        readiness=RoleReadiness(runtime.sessions, runtime.metrics, part),
        who=f" of this {role} ({part.name}; one METRICS_BIND port per process)",
    )
    if served is None:
        say(
            f"no /healthz, /readyz or /metrics for this {role}: set METRICS_BIND=HOST:PORT "
            "(one per process) to serve them (docs/scale-out.md, Health and metrics)"
        )
    try:
        part.start()
    except AlreadyRunning as exc:
        raise StartError(str(exc)) from None
    except RuntimeError as exc:
        raise StartError(f"{exc}; see the log above") from None
    return RoleProcess(runtime, part, stack)


class RoleProcess:
    """A running scheduler or worker; ``stop()`` stops it and what it started."""

    web_address: str | None = None

    def __init__(
        self, runtime: Runtime, part: Scheduler | Worker, stack: contextlib.ExitStack
    ) -> None:
        self.runtime = runtime
        self.part = part
        self._stack = stack

    @property
    def stopping(self) -> bool:
        return self.part.stopping.is_set()

    @property
    def failure(self) -> str | None:
        if isinstance(self.part, Worker) and self.part.lost_lock.is_set():
            return (
                "lost this worker's lease on the database (was the database restarted?); "
                "stopped so that its claims are settled safely — start it again"
            )
        if self.part.failure:
            return f"{self.part.failure}; start it again (see the log above)"
        return None

    def stop(self) -> None:
        try:
            self.part.stop()
        finally:
            self._stack.close()
