"""`web`: the campaign pages alone, in the foreground (`run` serves them too)."""

from __future__ import annotations

import contextlib

import click

from bot.cli.context import AppContext, pass_app
from bot.config import ConfigError


@click.command("web")
@click.option("--host", default=None, help="Interface to listen on (default: WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: WEB_PORT).")
@pass_app
def web(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the campaign pages (pledging, withdraw links) until Ctrl-C.

    On the sandbox (no real credentials), supporters sign in on the sandbox's stand-in
    consent pages: the built-in sandbox starts too, unless SANDBOX_URL names one.
    """
    import uvicorn

    from bot.cli.daemon import _embedded_sandbox, configure_logging
    from bot.web.app import create_web_app
    from bot.web.server import bind, web_config

    settings = app.settings
    configure_logging(settings.log_level)
    runtime = app.runtime
    with contextlib.ExitStack() as stack:
        if settings.uses_sandbox:
            url, admin = _embedded_sandbox(settings, stack)
            runtime = runtime.with_sandbox(url, admin.app())
            click.echo(f"SANDBOX MODE: supporters sign in on the sandbox at {url}")
        try:
            web_app = create_web_app(runtime)
            runtime.vault  # noqa: B018 - fail now, not at the first pledge
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        host = host if host is not None else settings.web_host
        port = port if port is not None else settings.web_port
        try:
            sock = bind(host, port)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port} ({exc}); set WEB_PORT to another port"
            ) from None
        stack.callback(sock.close)
        click.echo(
            f"campaign pages on http://{host}:{port}/c/<campaign> "
            f"(public address: {settings.web_base_url}); stop with Ctrl-C"
        )
        uvicorn.Server(web_config(web_app, host, port)).run(sockets=[sock])
