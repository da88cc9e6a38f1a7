"""`run`: the daemon in the foreground, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from bot.alerts.watcher import periodic as alert_jobs
from bot.campaigns.accounts import sync_config_accounts
from bot.campaigns.enqueue import apply_specs
from bot.campaigns.schedules.files import discover, load_files
from bot.campaigns.specs import SpecError
from bot.cli.context import AppContext, pass_app
from bot.cli.posts import print_report
from bot.cli.users import console_banner
from bot.delivery.daemon import Daemon
from bot.delivery.sweeps import Missed
from bot.engagement.plan import clock_note, on_clock
from bot.engagement.poll import poller_for
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
from bot.storage.lock import AlreadyRunning
from bot.storage.vault import VaultError

logger = logging.getLogger(__name__)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    # One line per request from the HTTP clients and the scheduler is noise at INFO.
    for noisy in ("apscheduler", "alembic", "urllib3", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # oauthlib and requests-oauthlib log the OAuth client and the signature base string,
    # access token included, at DEBUG: keep them above DEBUG even when LOG_LEVEL=DEBUG.
    # tweepy logs request headers (the bearer token) at DEBUG too.
    for leaky in ("oauthlib", "requests_oauthlib", "tweepy"):
        logging.getLogger(leaky).setLevel(logging.INFO)


def _embedded_sandbox(settings: Settings, stack: contextlib.ExitStack) -> tuple[str, Any]:
    from bot.sandbox.options import SandboxOptions
    from bot.sandbox.testing import SandboxAdmin, running_sandbox

    if settings.sandbox_url:
        return settings.sandbox_url, SandboxAdmin(settings.sandbox_url)
    options = SandboxOptions(
        port=settings.sandbox_port,
        state_file=settings.sandbox_state_file or None,
        time_acceleration=settings.sandbox_time_acceleration,
    )
    try:
        handle = stack.enter_context(running_sandbox(options, fixed_port=True))
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(
            f"could not start the built-in sandbox on port {settings.sandbox_port} ({exc}); "
            "is something else using it? Set SANDBOX_PORT to another port"
        ) from None
    return handle.url, handle.admin


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


def _queue_examples(runtime: Runtime) -> None:
    paths = discover(Path(runtime.settings.schedules_dir))
    if not paths:
        return
    now = datetime.now(UTC)
    try:
        specs = retime_examples(load_files(paths, default_timezone=runtime.settings.timezone), now)
        with runtime.sessions() as session:
            report = apply_specs(session, specs, now=now)
    except SpecError as exc:
        click.echo(f"the example schedules were not queued:\n{exc}", err=True)
        return
    first = min(s.scheduled_at for s in specs).astimezone()
    click.echo(
        f"first start: queued the {len(specs)} example posts from "
        f"{runtime.settings.schedules_dir}/ to go out from {first:%H:%M:%S} "
        "(2 minutes from now), one every 30 seconds"
    )
    print_report(report, dry_run=False)


def _echo_clock(settings: Settings) -> None:
    note = clock_note(settings.engagement_offsets, settings.clock_acceleration)
    if note:
        click.echo(
            f"SANDBOX CLOCK: {note} Posts still go out at their real times. "
            "See the week: `python main.py report CAMPAIGN --chart week.png`"
        )


def _print_missed(missed: list[Missed]) -> None:
    click.echo(
        f"{len(missed)} deliveries were due while Clarion was not running and were NOT "
        "sent late (see `python main.py deliveries list --state missed`):",
        err=True,
    )
    for item in missed:
        click.echo(
            f"  {item.label} on @{item.account}, due {item.due_at:%Y-%m-%d %H:%M} UTC", err=True
        )


def _serve_web(runtime: Runtime, stack: contextlib.ExitStack) -> None:
    """The campaign pages in a thread beside the daemon (`web` serves them alone).

    Started after the daemon lock is held; if they cannot start, posting goes on."""
    from bot.web.server import serving_web

    try:
        stack.enter_context(serving_web(runtime))
    except (OSError, RuntimeError, ConfigError) as exc:
        click.echo(
            f"the campaign pages are NOT served ({exc}); posting goes on. Set WEB_PORT to a "
            "free port, or run `python main.py init` for a WEB_SECRET_KEY",
            err=True,
        )
        return
    click.echo(f"campaign pages: {runtime.settings.web_base_url}/c/<campaign>")
    for line in console_banner(runtime):
        click.echo(line)


@click.command("run")
@click.option(
    "--examples/--no-examples",
    default=True,
    show_default=True,
    help="On the sandbox, when the queue is empty, queue the example schedules "
    "a few minutes ahead so you can watch them go out.",
)
@pass_app
def run(app: AppContext, examples: bool) -> None:
    """Run the scheduler: post everything queued, at its time, until stopped.

    Stops cleanly on Ctrl-C or SIGTERM: requests in flight finish and are recorded;
    everything else stays queued for the next start. Only one daemon runs per database.
    """
    settings = app.settings
    configure_logging(settings.log_level)
    runtime = app.runtime
    try:
        runtime.vault  # noqa: B018 - fail now, not at the first post
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    # The one-daemon lock comes first: a second daemon must not touch the sandbox, the
    # accounts or the queue before saying that another one is running.
    lock = runtime.lock()
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        raise click.ClickException(str(exc)) from None
    with contextlib.ExitStack() as stack:
        stack.callback(lock.release)
        if settings.uses_sandbox:
            real = real_accounts(runtime)
            if real:
                raise click.ClickException(
                    "this database holds the campaign's real accounts ("
                    + ", ".join(real)
                    + "), so it will not be used for a sandbox rehearsal: point DATABASE_URL "
                    "at another database for rehearsals (e.g. sqlite:///rehearsal.db), or "
                    "set SANDBOX=off"
                )
            url, admin = _embedded_sandbox(settings, stack)
            runtime = runtime.with_sandbox(url, admin.app())
            try:
                rehearsal_accounts = ensure_campaign_accounts(runtime, admin)
            except VaultError as exc:
                raise click.ClickException(str(exc)) from None
            for line in rehearsal_accounts:
                click.echo(line)
            click.echo(
                f"SANDBOX MODE: no real X or Facebook credentials are set, so posts go "
                f"to the built-in sandbox at {url}; nothing reaches real accounts."
            )
            click.echo(f"watch the timelines: {url}/_sandbox/")
            _echo_clock(runtime.settings)
            if examples and queue_is_empty(runtime):
                _queue_examples(runtime)
        else:
            try:
                for line in sync_config_accounts(runtime):
                    click.echo(line)
            except PlatformError as exc:
                raise click.ClickException(
                    f"a campaign token in config.env does not work: {exc.message}"
                ) from None
        daemon = Daemon(
            runtime.deliverer(),
            runtime.ledger(),
            lock,
            poll_interval=settings.poll_interval_seconds,
            grace=timedelta(minutes=settings.missed_grace_minutes),
            concurrency=settings.delivery_concurrency,
            max_in_flight=settings.delivery_max_in_flight,
            http_timeout=settings.http_timeout_seconds,
            on_missed=_print_missed,
            stale_after=settings.http_timeout_seconds + 60,
            # Engagement snapshots in their own thread: a slow read never delays a post.
            # Pledge campaigns: releases when due (every second) and readiness checks.
            periodic=[
                engagement_job(runtime),
                *pledge_jobs(runtime),
                # Alerts read the database on their own clock: posting never waits on one.
                *alert_jobs(runtime),
            ],
        )
        try:
            daemon.start()
        except AlreadyRunning as exc:
            raise click.ClickException(str(exc)) from None
        _serve_web(runtime, stack)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(
            "Clarion is running. See what went out: `python main.py deliveries list`; "
            "stop with Ctrl-C."
        )
        try:
            while not stop.wait(1.0) and not daemon.stopping.is_set():
                pass
        finally:
            click.echo("stopping: letting requests in flight finish…")
            daemon.stop()
            click.echo("stopped; anything not yet sent stays queued for the next start")
        if daemon.lost_lock.is_set():
            raise click.ClickException(
                "lost the one-daemon lock on the database (was the database restarted?); "
                "stopped so as never to send alongside another daemon — start again"
            )
        if daemon.failure:
            raise click.ClickException(f"{daemon.failure}; start it again (see the log above)")
