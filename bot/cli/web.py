"""`web`: the campaign pages alone, in the foreground (`run` serves them too).

What it starts is composed in bot/runtime/process.py; this command parses its options,
prints, and waits for a signal.
"""

from __future__ import annotations

import threading

import click

from bot.cli.context import AppContext, pass_app, refuse_missing_folders
from bot.cli.daemon import announcer, page_server_last_seen, until_signal
from bot.cli.pledges import campaign_page_lines
from bot.cli.users import console_banner
from bot.runtime.logs import configure_logging
from bot.runtime.process import ProcessOptions, StartError, start_everything
from bot.settings import local_base_url


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default: WEB_HOST).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: WEB_PORT)."
)
@pass_app
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the campaign pages (pledging, withdraw links) until Ctrl-C or SIGTERM.

    Only needed while no daemon runs: `python main.py run` serves the same pages. On the
    sandbox (no real credentials), supporters sign in on the sandbox's stand-in consent
    pages: the built-in sandbox starts too, unless SANDBOX_URL names one.
    """
    settings = app.settings
    refuse_missing_folders(settings)
    configure_logging(settings.log_level, settings.log_format)
    _refuse_beside_daemon(app, port)
    runtime = app.runtime
    if settings.web_base_url_follows and (host or port):
        # WEB_BASE_URL follows the address the pages listen on, so that sign-in
        # callbacks and shared links reach these pages rather than WEB_PORT's.
        runtime = runtime.with_settings(
            web_base_url=local_base_url(host or settings.web_host, port or settings.web_port)
        )
    options = ProcessOptions(post=False, web_host=host, web_port=port)
    say = announcer(settings.log_format)
    try:
        process = start_everything(runtime, options, say)
    except StartError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    until_signal(stop)
    public = process.runtime.settings.web_base_url
    say(f"serving the campaign pages on {process.web_address} (public address: {public})")
    with process.runtime.sessions() as session:
        for line in campaign_page_lines(session, process.runtime.settings):
            say(line)
    for line in console_banner(process.runtime):
        say(line)
    say("stop with Ctrl-C")
    try:
        while not stop.wait(1.0):
            pass
    finally:
        say("stopping the campaign pages")
        process.stop()


def _refuse_beside_daemon(app: AppContext, port: int | None) -> None:
    """A daemon on this database already serves the pages (on WEB_PORT) and, on the
    sandbox, runs the built-in sandbox (on SANDBOX_PORT): a second copy on the same ports
    cannot start, and one with a sandbox of its own would sign supporters in on a sandbox
    the daemon never posts to. Say so before starting anything."""
    seen = page_server_last_seen(app)
    if seen is None:
        return
    s = app.settings
    same_port = port is None or port == s.web_port
    own_sandbox = s.uses_sandbox and not s.sandbox_url
    if not (same_port or own_sandbox):
        return
    second = "python main.py web --port OTHER_PORT"
    if own_sandbox:
        second = f"SANDBOX_URL=http://127.0.0.1:{s.sandbox_port} {second}"
    raise click.ClickException(
        f"a daemon is running on this database (it polled {seen.total_seconds():.0f}s ago) "
        f"and already serves the campaign pages at {s.web_base_url} (the console at "
        f"{s.web_base_url}/console/): `web` is not needed beside it. `web` serves the pages "
        "while no daemon runs (`python main.py run` posts and serves them both). To serve a "
        f"second copy anyway: {second}"
    )
