"""`run`: the daemon in the foreground, until SIGTERM or Ctrl-C.

What it starts is composed in bot/runtime/process.py; this command parses its options,
prints, and waits for a signal.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta

import click

from bot.cli.context import AppContext, pass_app, refuse_missing_folders
from bot.cli.output import plural
from bot.cli.pledges import campaign_page_lines
from bot.cli.users import console_banner
from bot.delivery import heartbeat
from bot.delivery.sweeps import Missed
from bot.runtime.logs import LogFormat, configure_logging
from bot.runtime.process import ProcessOptions, Say, StartError
from bot.runtime.roles import Role, start_role


def echo(message: str, *, err: bool = False) -> None:
    click.echo(message, err=err)


# What `run` and `web` tell the operator, as log records when LOG_FORMAT=json.
announcements = logging.getLogger("clarion")


def announcer(log_format: str) -> Say:
    """How `run` and `web` speak to the operator: plain lines on the terminal, or, with
    LOG_FORMAT=json, log records like every other line, so the output stays one JSON
    object a line (journald and `docker compose logs` merge stdout and stderr)."""
    if LogFormat(log_format) is not LogFormat.JSON:
        return echo

    def say(message: str, *, err: bool = False) -> None:
        announcements.log(logging.WARNING if err else logging.INFO, "%s", message)

    return say


HOW_TO_START = "start one with `make run` or `python main.py run`"


def daemon_last_seen(app: AppContext) -> timedelta | None:
    """How long ago a daemon on this database last polled, if it is still polling; None
    when none is running. A daemon stopped cleanly says so on its heartbeat row; one
    killed outright stops beating, and a running daemon writes a beat every
    ``heartbeat.EVERY`` (or every poll, when POLL_INTERVAL_SECONDS is longer), so three
    missed beats mean it has stopped (a shorter wait than ALERTS_DAEMON_STALE_SECONDS,
    which waits before alerting)."""
    return _last_seen(app, heartbeat.SCHEDULING)


def _last_seen(app: AppContext, kinds: tuple[heartbeat.Kind, ...]) -> timedelta | None:
    now = datetime.now(UTC)
    silent = heartbeat.silent_after(app.settings.poll_interval_seconds)
    with app.runtime.sessions() as session:
        pulse = heartbeat.pulse(session, now, silent, kinds)
    if pulse is None or pulse.stopped_at is not None or now - pulse.beat_at > silent:
        return None
    return max(now - pulse.beat_at, timedelta(0))


def page_server_last_seen(app: AppContext) -> timedelta | None:
    """Like ``daemon_last_seen``, for a single-machine daemon only: it serves the campaign
    pages, where a scheduler or worker of a scaled-out Clarion serves none."""
    return _last_seen(app, (heartbeat.Kind.DAEMON,))


def warn_without_daemon(app: AppContext) -> None:
    """Say, after queueing, that nothing will post it while no daemon runs here."""
    if daemon_last_seen(app) is None:
        click.echo(
            "warning: no daemon is running on this database, so nothing is posted until "
            f"one is: {HOW_TO_START}",
            err=True,
        )


def _print_missed(missed: list[Missed], say: Say = echo) -> None:
    lines = [
        f"{plural(len(missed), 'delivery', 'deliveries', verb='was')} due while Clarion was "
        "not running, and not sent late (see `python main.py deliveries list --state missed`):",
        *(
            f"  {item.label} on @{item.account}, due {item.due_at:%Y-%m-%d %H:%M} UTC"
            for item in missed
        ),
    ]
    say("\n".join(lines), err=True)


def until_signal(stop: threading.Event) -> None:
    """SIGTERM and Ctrl-C set ``stop``. Our own handlers: uvicorn runs in a thread and
    would otherwise re-raise the signal after its shutdown, ending the process with
    -SIGTERM before anything in flight is recorded."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


@click.command("run")
@click.option(
    "--examples/--no-examples",
    default=True,
    show_default=True,
    help="On the sandbox, when the queue is empty, queue the example schedules "
    "a few minutes ahead so you can watch them go out.",
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.ALL.value,
    show_default=True,
    help="all: the whole of Clarion in this process (one per database). On PostgreSQL, "
    "to scale out: scheduler (one active, others stand by), worker (any number; they "
    "send), web (the pages and console; never sends). See docs/scale-out.md.",
)
@pass_app
def run(app: AppContext, examples: bool, role: str) -> None:
    """Run the scheduler: post everything queued, at its time, until stopped.

    Stops cleanly on Ctrl-C or SIGTERM: requests in flight finish and are recorded;
    everything else stays queued for the next start. Only one daemon runs per database,
    unless it is split into --role scheduler and worker processes on PostgreSQL.
    """
    settings = app.settings
    refuse_missing_folders(settings)
    configure_logging(settings.log_level, settings.log_format)
    say = announcer(settings.log_format)
    options = ProcessOptions(examples=examples, on_missed=lambda missed: _print_missed(missed, say))
    try:
        process = start_role(app.runtime, Role(role), options, say)
    except StartError as exc:
        raise click.ClickException(str(exc)) from None
    if Role(role) is Role.WEB:
        say(f"serving the campaign pages and the console on {process.web_address}; never sends")
    if process.web_address is not None:
        with process.runtime.sessions() as session:
            for line in campaign_page_lines(session, settings):
                say(line)
        for line in console_banner(app.runtime):
            say(line)
    stop = threading.Event()
    until_signal(stop)
    say(
        "Clarion is running. See what went out: `python main.py deliveries list`; stop with Ctrl-C."
    )
    try:
        while not stop.wait(1.0) and not process.stopping:
            pass
    finally:
        say("stopping: letting requests in flight finish…")
        process.stop()
        say("stopped; anything not yet sent stays queued for the next start")
    if process.failure:
        raise click.ClickException(process.failure)
