"""`web`: the campaign pages alone, in the foreground (`run` serves them too).

What it starts is composed in bot/runtime/process.py; this command parses its options,
prints, and waits for a signal.
"""

from __future__ import annotations

import threading

import click

from bot.cli.context import AppContext, pass_app
from bot.cli.daemon import echo, until_signal
from bot.cli.users import console_banner
from bot.runtime.logs import configure_logging
from bot.runtime.process import ProcessOptions, StartError, start_everything


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default: WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: WEB_PORT).")
@pass_app
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the campaign pages (pledging, withdraw links) until Ctrl-C or SIGTERM.

    On the sandbox (no real credentials), supporters sign in on the sandbox's stand-in
    consent pages: the built-in sandbox starts too, unless SANDBOX_URL names one.
    """
    settings = app.settings
    configure_logging(settings.log_level, settings.log_format)
    options = ProcessOptions(post=False, web_host=host, web_port=port)
    try:
        process = start_everything(app.runtime, options, echo)
    except StartError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    until_signal(stop)
    click.echo(
        f"campaign pages on {process.web_address}/c/<campaign> (public address: "
        f"{settings.web_base_url}); stop with Ctrl-C"
    )
    for line in console_banner(app.runtime):
        click.echo(line)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        click.echo("stopping the campaign pages")
        process.stop()
