"""A running Clarion, composed in one place: what `python main.py run` and `web` start.

``start_everything(runtime, options, say)`` takes the one-daemon lock, starts the built-in
sandbox (or talks to SANDBOX_URL) with its rehearsal accounts and example posts, or checks
the campaign's real tokens; then the daemon with its housekeeping jobs (engagement
snapshots, pledge releases and readiness), then /healthz, /readyz and /metrics on their
own server when METRICS_BIND says so (``serve_health``, which the scaled-out roles of
bot/runtime/roles.py use too), then the web pages. It returns a ``Process``
whose ``stop()`` undoes all of it in reverse order. The CLI commands only parse options,
pass ``click.echo`` as ``say`` and wait for a signal: what a command prints while
starting comes through ``say``, a start that cannot go on raises ``StartError`` with a
message that says what to do.

This is the composition root: the one module below the CLI that imports the web layer
(``serving_web``, one call that builds the whole web app).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.alerts.watcher import periodic as alert_jobs
from bot.campaigns.accounts import sync_config_accounts
from bot.campaigns.enqueue import apply_specs
from bot.campaigns.schedules.files import discover, load_files
from bot.campaigns.specs import SpecError
from bot.delivery.daemon import Daemon
from bot.delivery.sweeps import Missed
from bot.engagement.plan import clock_note, on_clock
from bot.engagement.poll import poller_for
from bot.monitoring.health import Checks
from bot.platforms.base import PlatformError
from bot.pledges.jobs import periodic as pledge_jobs
from bot.runtime.rehearsal import (
    ensure_campaign_accounts,
    queue_is_empty,
    real_accounts,
    retime_examples,
)
from bot.runtime.wiring import Runtime
from bot.settings import ConfigError, Settings
from bot.storage.lock import AlreadyRunning, DaemonLock
from bot.storage.vault import VaultError

logger = logging.getLogger(__name__)


class StartError(Exception):
    """Clarion cannot start; the message says why and what to do about it."""


class Say(Protocol):
    """Where start-up messages go (the CLI passes ``click.echo``); ``err`` for warnings."""

    def __call__(self, message: str, *, err: bool = False) -> None: ...


@dataclass(frozen=True)
class ProcessOptions:
    """What to start. ``post``: the daemon (`run`); without it only the pages are served,
    and then not serving them is an error (`web`) rather than a warning (`run`, where
    posting goes on). ``examples``: on the sandbox with an empty queue, queue the example
    schedules a few minutes ahead. ``web_host``/``web_port``: instead of WEB_HOST/WEB_PORT.
    ``on_missed``: told the deliveries that were due while nothing ran."""

    post: bool = True
    examples: bool = True
    web_host: str | None = None
    web_port: int | None = None
    on_missed: Callable[[list[Missed]], None] | None = None


class Process:
    """What ``start_everything`` started; ``stop()`` stops it, in reverse order."""

    def __init__(
        self,
        runtime: Runtime,
        stack: contextlib.ExitStack,
        *,
        daemon: Daemon | None,
        sandbox_url: str | None,
        web_address: str | None,
        health_address: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.daemon = daemon
        self.sandbox_url = sandbox_url
        self.web_address = web_address  # None: the pages are not served
        # METRICS_BIND's server; None: /healthz, /readyz, /metrics are on the pages' one
        self.health_address = health_address
        self._stack = stack

    @property
    def stopping(self) -> bool:
        """Whether the daemon stopped itself (see ``failure``)."""
        return self.daemon is not None and self.daemon.stopping.is_set()

    @property
    def failure(self) -> str | None:
        """Why the daemon stopped itself, worded for the operator; None if it did not."""
        if self.daemon is None:
            return None
        if self.daemon.lost_lock.is_set():
            return (
                "lost the one-daemon lock on the database (was the database restarted?); "
                "stopped so as never to send alongside another daemon — start again"
            )
        if self.daemon.failure:
            return f"{self.daemon.failure}; start it again (see the log above)"
        return None

    def stop(self) -> None:
        """Let requests in flight finish and be recorded, then stop the pages, the sandbox
        and let go of the lock. Anything not yet sent stays queued."""
        try:
            if self.daemon is not None:
                self.daemon.stop()
        finally:
            self._stack.close()


def start_everything(runtime: Runtime, options: ProcessOptions, say: Say) -> Process:
    """Start what ``options`` ask for on ``runtime``'s database (see the module docstring).
    Raises ``StartError`` when it cannot; whatever it started by then is stopped again."""
    stack = contextlib.ExitStack()
    try:
        if options.post:
            return _start_posting(runtime, options, say, stack)
        return _start_pages(runtime, options, say, stack)
    except BaseException:
        stack.close()
        raise


def _start_posting(
    runtime: Runtime, options: ProcessOptions, say: Say, stack: contextlib.ExitStack
) -> Process:
    settings = runtime.settings
    try:
        runtime.vault  # noqa: B018 - fail now, not at the first post
    except ConfigError as exc:
        raise StartError(str(exc)) from None
    # The one-daemon lock comes first: a second daemon must not touch the sandbox, the
    # accounts or the queue before saying that another one is running.
    lock = runtime.lock()
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise StartError(str(exc)) from None
    stack.callback(lock.release)
    sandbox_url = None
    if settings.uses_sandbox:
        runtime = _rehearsal(runtime, options, say, stack)
        sandbox_url = runtime.settings.sandbox_url
    else:
        try:
            for line in sync_config_accounts(runtime):
                say(line)
        except PlatformError as exc:
            raise StartError(
                f"a campaign token in config.env does not work: {exc.message}"
            ) from None
    daemon = _daemon(runtime, lock, options)
    try:
        daemon.start()
    except AlreadyRunning as exc:
        raise StartError(str(exc)) from None
    try:
        health = serve_health(runtime, stack, say, required=False)
        address = _serve_pages(runtime, stack, say, options)
    except BaseException:
        daemon.stop()
        raise
    return Process(
        runtime,
        stack,
        daemon=daemon,
        sandbox_url=sandbox_url,
        web_address=address,
        health_address=health,
    )


def _start_pages(
    runtime: Runtime, options: ProcessOptions, say: Say, stack: contextlib.ExitStack
) -> Process:
    sandbox_url = None
    if runtime.settings.uses_sandbox:
        sandbox_url, admin = embedded_sandbox(runtime.settings, stack)
        runtime = runtime.with_sandbox(sandbox_url, admin.app())
        say(f"SANDBOX MODE: supporters sign in on the sandbox at {sandbox_url}")
    try:
        runtime.vault  # noqa: B018 - fail now, not at the first pledge
    except ConfigError as exc:
        raise StartError(str(exc)) from None
    health = serve_health(runtime, stack, say, required=True)
    address = _serve_pages(runtime, stack, say, options)
    return Process(
        runtime,
        stack,
        daemon=None,
        sandbox_url=sandbox_url,
        web_address=address,
        health_address=health,
    )


def _rehearsal(
    runtime: Runtime, options: ProcessOptions, say: Say, stack: contextlib.ExitStack
) -> Runtime:
    """The built-in sandbox with the campaign's stand-in accounts (and, on an empty queue,
    the example posts); the runtime that talks to it."""
    real = real_accounts(runtime)
    if real:
        raise StartError(
            "this database holds the campaign's real accounts ("
            + ", ".join(real)
            + "), so it will not be used for a sandbox rehearsal: point DATABASE_URL "
            "at another database for rehearsals (e.g. sqlite:///rehearsal.db), or "
            "set SANDBOX=off"
        )
    url, admin = embedded_sandbox(runtime.settings, stack)
    runtime = runtime.with_sandbox(url, admin.app())
    try:
        for line in ensure_campaign_accounts(runtime, admin):
            say(line)
    except VaultError as exc:
        raise StartError(str(exc)) from None
    say(
        f"SANDBOX MODE: no real X or Facebook credentials are set, so posts go "
        f"to the built-in sandbox at {url}; nothing reaches real accounts."
    )
    say(f"watch the timelines: {url}/_sandbox/")
    note = clock_note(runtime.settings.engagement_offsets, runtime.settings.clock_acceleration)
    if note:
        say(
            f"SANDBOX CLOCK: {note} Posts still go out at their real times. "
            "See the week: `python main.py report CAMPAIGN --chart week.png`"
        )
    if options.examples and queue_is_empty(runtime):
        _queue_examples(runtime, say)
    return runtime


def embedded_sandbox(settings: Settings, stack: contextlib.ExitStack) -> tuple[str, Any]:
    """The sandbox to talk to: SANDBOX_URL's, or the built-in one started on SANDBOX_PORT
    until ``stack`` closes. Its URL and its admin client."""
    from bot.sandbox.options import SandboxOptions
    from bot.sandbox.testing import SandboxAdmin, running_sandbox

    if settings.sandbox_url:
        token = settings.sandbox_admin_token.reveal()
        return settings.sandbox_url, SandboxAdmin(settings.sandbox_url, token=token)
    options = SandboxOptions(
        port=settings.sandbox_port,
        state_file=settings.sandbox_state_file or None,
        time_acceleration=settings.sandbox_time_acceleration,
        admin_token=settings.sandbox_admin_token.reveal(),
    )
    try:
        handle = stack.enter_context(running_sandbox(options, fixed_port=True))
    except (OSError, RuntimeError) as exc:
        raise StartError(
            f"could not start the built-in sandbox on port {settings.sandbox_port} ({exc}); "
            "is something else using it? Set SANDBOX_PORT to another port"
        ) from None
    return handle.url, handle.admin


def _queue_examples(runtime: Runtime, say: Say) -> None:
    paths = discover(Path(runtime.settings.schedules_dir))
    if not paths:
        return
    now = datetime.now(UTC)
    try:
        loaded = load_files(paths, default_timezone=runtime.settings.timezone, now=now)
        specs = retime_examples(loaded, now)
        with runtime.sessions() as session:
            report = apply_specs(session, specs, now=now)
    except SpecError as exc:
        say(f"the example schedules were not queued:\n{exc}", err=True)
        return
    first = min(s.scheduled_at for s in specs).astimezone()
    say(
        f"first start: queued the example posts from {runtime.settings.schedules_dir}/ "
        f"({len(specs)} in all) to go out from {first:%H:%M:%S} (2 minutes from now), one "
        "every 30 seconds:"
    )
    say("  " + ", ".join([*report.created, *report.updated]))
    for note in report.notes:
        say(f"note: {note}")


def _daemon(runtime: Runtime, lock: DaemonLock, options: ProcessOptions) -> Daemon:
    settings = runtime.settings
    return Daemon(
        runtime.deliverer(),
        runtime.ledger(),
        lock,
        poll_interval=settings.poll_interval_seconds,
        grace=timedelta(minutes=settings.missed_grace_minutes),
        concurrency=settings.delivery_concurrency,
        max_in_flight=settings.delivery_max_in_flight,
        http_timeout=settings.http_timeout_seconds,
        on_missed=options.on_missed,
        stale_after=settings.http_timeout_seconds + 60,
        # Engagement snapshots in their own thread: a slow read never delays a post.
        # Pledge campaigns: releases when due (every second) and readiness checks.
        periodic=[engagement_job(runtime), *pledge_jobs(runtime), *alert_jobs(runtime)],
    )


def engagement_job(runtime: Runtime) -> tuple[str, Callable[[], object], float]:
    """The daemon's engagement round and how often it runs, on the platforms' clock.

    On a sandbox whose clock runs F times faster (SANDBOX_TIME_ACCELERATION), each
    ENGAGEMENT_OFFSETS snapshot is taken when that much *sandbox* time has passed (the
    "7d" one about 10 minutes after the post at 1000x), and the daemon looks for due
    snapshots F times as often (at most once a second). On the real platforms F is 1.
    Only the poller's runtime is rescaled: the deliverer keeps the real settings, so no
    post's publishing time moves.
    """
    s = runtime.settings
    rate = s.clock_acceleration
    if rate == 1:
        return "engagement", poller_for(runtime).run, s.engagement_poll_seconds
    timed = runtime.with_settings(engagement_offsets=on_clock(s.engagement_offsets, rate))
    return "engagement", poller_for(timed).run, max(1.0, s.engagement_poll_seconds / rate)


def serve_health(
    runtime: Runtime,
    stack: contextlib.ExitStack,
    say: Say,
    *,
    required: bool,
    readiness: Checks | None = None,
    who: str = "",
) -> str | None:
    """/healthz, /readyz and /metrics on METRICS_BIND until ``stack`` closes; the address.

    None when METRICS_BIND is empty. An address that cannot be bound is a ``StartError``
    when ``required`` (served alone, or a scaled-out role's only window), else a warning
    and posting goes on. ``readiness``: what /readyz runs (default: the whole of
    Clarion's checks); ``who``: the process they are about, for the start-up line."""
    bind = runtime.settings.metrics_address
    if bind is None:
        return None
    from bot.web.server import serving_health

    try:
        address = stack.enter_context(serving_health(runtime, *bind, readiness))
    except (OSError, RuntimeError) as exc:
        problem = (
            f"cannot serve /healthz, /readyz and /metrics on METRICS_BIND="
            f"{runtime.settings.metrics_bind} ({exc}); set it to a free HOST:PORT"
        )
        if required:
            raise StartError(problem) from None
        say(f"{problem}; posting goes on", err=True)
        return None
    say(f"health and metrics{who} on {address} (/healthz, /readyz, /metrics)")
    return address


def _serve_pages(
    runtime: Runtime, stack: contextlib.ExitStack, say: Say, options: ProcessOptions
) -> str | None:
    """The web pages in a thread until ``stack`` closes; the address they listen on.

    Beside the daemon they start after its lock is held, and if they cannot start,
    posting goes on (None). Served alone, not serving them is a ``StartError``."""
    from bot.web.server import serving_web

    try:
        return stack.enter_context(
            serving_web(runtime, host=options.web_host, port=options.web_port)
        )
    except ConfigError as exc:
        if not options.post:
            raise StartError(str(exc)) from None
        problem = str(exc)
    except (OSError, RuntimeError) as exc:
        if not options.post:
            raise StartError(
                f"cannot serve the campaign pages ({exc}); set WEB_PORT to a free port"
            ) from None
        problem = str(exc)
    say(
        f"the campaign pages are NOT served ({problem}); posting goes on. Set WEB_PORT to a "
        "free port, or run `python main.py init` for a WEB_SECRET_KEY",
        err=True,
    )
    return None
