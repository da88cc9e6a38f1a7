"""`web`: the campaign pages alone, in the foreground (`run` serves them too)."""

from __future__ import annotations

import contextlib
import signal
import threading

import click

from bot.cli.context import AppContext, pass_app
from bot.cli.users import console_banner
from bot.settings import ConfigError


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default: WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: WEB_PORT).")
@pass_app
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the campaign pages (pledging, withdraw links) until Ctrl-C or SIGTERM.

    On the sandbox (no real credentials), supporters sign in on the sandbox's stand-in
    consent pages: the built-in sandbox starts too, unless SANDBOX_URL names one.
    """
    from bot.cli.daemon import _embedded_sandbox, configure_logging
    from bot.web.server import serving_web

    settings = app.settings
    configure_logging(settings.log_level)
    runtime = app.runtime
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        if settings.uses_sandbox:
            url, admin = _embedded_sandbox(settings, stack)
            runtime = runtime.with_sandbox(url, admin.app())
            click.echo(f"SANDBOX MODE: supporters sign in on the sandbox at {url}")
        try:
            runtime.vault  # noqa: B018 - fail now, not at the first pledge
            address = stack.enter_context(serving_web(runtime, host=host, port=port))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        except (OSError, RuntimeError) as exc:
            raise click.ClickException(
                f"cannot serve the campaign pages ({exc}); set WEB_PORT to a free port"
            ) from None
        # Our own handlers, as `run` does: uvicorn runs in a thread and would otherwise
        # re-raise the signal after its shutdown, ending the process with -SIGTERM.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        click.echo(
            f"campaign pages on {address}/c/<campaign> (public address: "
            f"{settings.web_base_url}); stop with Ctrl-C"
        )
        for line in console_banner(runtime):
            click.echo(line)
        while not stop.wait(1.0):
            pass
        click.echo("stopping the campaign pages")
