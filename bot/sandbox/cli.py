"""``clarion sandbox``: run the sandbox in the foreground."""

from __future__ import annotations

import click

from bot.runtime.logs import configure_logging
from bot.sandbox.options import LATENCY_DISTRIBUTIONS, FaultConfig, RateLimits, SandboxOptions

_RATE = click.FloatRange(0.0, 1.0)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8700, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file that keeps users, pages and posts across restarts (default: memory).",
)
@click.option("--seed", default=1, show_default=True, type=int, help="Seed for faults and metrics.")
@click.option(
    "--time-acceleration",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.001),
    help="How much faster engagement grows than real time (post times, token lifetimes,"
    " duplicate windows and rate limits stay real).",
)
@click.option(
    "--latency-ms", default=0.0, show_default=True, type=float, help="Mean added latency."
)
@click.option(
    "--latency-distribution",
    type=click.Choice(LATENCY_DISTRIBUTIONS),
    default="fixed",
    show_default=True,
    help="How the added latency varies around its mean.",
)
@click.option("--x-error-rate", type=_RATE, default=0.0, help="Share of X calls answered 503.")
@click.option(
    "--x-timeout-rate", type=_RATE, default=0.0, help="Share of X calls held, then dropped."
)
@click.option("--x-reset-rate", type=_RATE, default=0.0, help="Share of X calls reset (RST).")
@click.option(
    "--x-accept-then-drop-rate",
    type=_RATE,
    default=0.0,
    help="Share of X calls carried out whose answer is then lost.",
)
@click.option(
    "--x-accept-then-error-rate",
    type=_RATE,
    default=0.0,
    help="Share of X calls carried out but answered 5xx (as a busy gateway can).",
)
@click.option("--fb-error-rate", type=_RATE, default=0.0, help="Share of Graph calls answered 5xx.")
@click.option(
    "--fb-timeout-rate", type=_RATE, default=0.0, help="Share of Graph calls held, then dropped."
)
@click.option("--fb-reset-rate", type=_RATE, default=0.0, help="Share of Graph calls reset.")
@click.option(
    "--fb-accept-then-drop-rate",
    type=_RATE,
    default=0.0,
    help="Share of Graph calls carried out whose answer is then lost.",
)
@click.option(
    "--fb-accept-then-error-rate",
    type=_RATE,
    default=0.0,
    help="Share of Graph calls carried out but answered 5xx (as a busy gateway can).",
)
@click.option(
    "--bsky-error-rate", type=_RATE, default=0.0, help="Share of XRPC calls answered 500."
)
@click.option(
    "--bsky-timeout-rate", type=_RATE, default=0.0, help="Share of XRPC calls held, then dropped."
)
@click.option("--bsky-reset-rate", type=_RATE, default=0.0, help="Share of XRPC calls reset.")
@click.option(
    "--bsky-accept-then-drop-rate",
    type=_RATE,
    default=0.0,
    help="Share of XRPC calls carried out whose answer is then lost.",
)
@click.option(
    "--bsky-accept-then-error-rate",
    type=_RATE,
    default=0.0,
    help="Share of XRPC calls carried out but answered 5xx.",
)
@click.option(
    "--timeout-hold-s",
    type=float,
    default=30.0,
    show_default=True,
    help="How long a 'timeout' holds the connection before dropping it.",
)
@click.option(
    "--x-posts-per-user",
    type=int,
    default=RateLimits.x_posts_per_user,
    show_default=True,
    help="POST /2/tweets allowed per user per 15 minutes.",
)
@click.option(
    "--x-posts-per-app",
    type=int,
    default=RateLimits.x_posts_per_app,
    show_default=True,
    help="POST /2/tweets allowed per app per 24 hours.",
)
@click.option(
    "--x-monthly-post-cap",
    type=int,
    default=None,
    help="Posts per month before X answers 429 usage-capped (default: no cap).",
)
@click.option(
    "--duplicate-window-s",
    type=float,
    default=24 * 3600.0,
    show_default=True,
    help="Same text from the same X account within this window is refused as a duplicate.",
)
@click.option(
    "--fb-require-appsecret-proof",
    is_flag=True,
    help="As Facebook's 'Require App Secret' app setting: Graph calls need appsecret_proof.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
    help="Server log level.",
)
@click.option(
    "--admin-token",
    envvar="SANDBOX_ADMIN_TOKEN",
    default="",
    help="Require this token (header X-Sandbox-Admin-Token) on every /_sandbox/ admin call; "
    "Clarion sends SANDBOX_ADMIN_TOKEN. Default: none (the API still refuses cross-site "
    "browser requests).",
)
def sandbox_command(
    host: str,
    port: int,
    state_file: str | None,
    seed: int,
    time_acceleration: float,
    latency_ms: float,
    latency_distribution: str,
    x_error_rate: float,
    x_timeout_rate: float,
    x_reset_rate: float,
    x_accept_then_drop_rate: float,
    x_accept_then_error_rate: float,
    fb_error_rate: float,
    fb_timeout_rate: float,
    fb_reset_rate: float,
    fb_accept_then_drop_rate: float,
    fb_accept_then_error_rate: float,
    bsky_error_rate: float,
    bsky_timeout_rate: float,
    bsky_reset_rate: float,
    bsky_accept_then_drop_rate: float,
    bsky_accept_then_error_rate: float,
    timeout_hold_s: float,
    x_posts_per_user: int,
    x_posts_per_app: int,
    x_monthly_post_cap: int | None,
    duplicate_window_s: float,
    fb_require_appsecret_proof: bool,
    log_level: str,
    admin_token: str,
) -> None:
    """Run the Clarion sandbox: a stand-in for X API v2, the Facebook Graph API and Bluesky.

    Point Clarion at it to rehearse a campaign without touching real accounts.
    """
    # Imported here so `clarion --help` stays fast and needs no server libraries.
    from bot.sandbox.server import serve

    # Account names and post texts reach these logs: one record a line (bot.runtime.logs).
    configure_logging(log_level, text_layout="%(levelname)s %(name)s: %(message)s", quieten=False)
    options = SandboxOptions(
        host=host,
        port=port,
        state_file=state_file,
        seed=seed,
        time_acceleration=time_acceleration,
        latency_ms=latency_ms,
        latency_distribution=latency_distribution,
        faults={
            "x": FaultConfig(
                error_rate=x_error_rate,
                timeout_rate=x_timeout_rate,
                reset_rate=x_reset_rate,
                accept_then_drop_rate=x_accept_then_drop_rate,
                accept_then_error_rate=x_accept_then_error_rate,
                timeout_hold_s=timeout_hold_s,
            ),
            "facebook": FaultConfig(
                error_rate=fb_error_rate,
                timeout_rate=fb_timeout_rate,
                reset_rate=fb_reset_rate,
                accept_then_drop_rate=fb_accept_then_drop_rate,
                accept_then_error_rate=fb_accept_then_error_rate,
                timeout_hold_s=timeout_hold_s,
            ),
            "bluesky": FaultConfig(
                error_rate=bsky_error_rate,
                timeout_rate=bsky_timeout_rate,
                reset_rate=bsky_reset_rate,
                accept_then_drop_rate=bsky_accept_then_drop_rate,
                accept_then_error_rate=bsky_accept_then_error_rate,
                timeout_hold_s=timeout_hold_s,
            ),
        },
        rate_limits=RateLimits(
            x_posts_per_user=x_posts_per_user,
            x_posts_per_app=x_posts_per_app,
            x_monthly_post_cap=x_monthly_post_cap,
        ),
        duplicate_window_s=duplicate_window_s,
        fb_require_appsecret_proof=fb_require_appsecret_proof,
        log_level=log_level,
        admin_token=admin_token,
    )
    base = f"http://{host}:{port}"
    click.echo(f"Clarion sandbox on {base}")
    click.echo(f"  timelines and admin: {base}/_sandbox/")
    click.echo(f"  X consumer key:      {options.consumer_key}")
    click.echo(f"  X consumer secret:   {options.consumer_secret}")
    click.echo(f"  X bearer token:      {options.bearer_token}")
    click.echo(f"  Facebook app id:     {options.fb_app_id}")
    click.echo(f"  Facebook app secret: {options.fb_app_secret}")
    click.echo("  (sandbox-only credentials; they work nowhere else)")
    if admin_token:
        click.echo("  admin API:           needs the admin token (X-Sandbox-Admin-Token)")
    if state_file:
        click.echo(f"  state file:          {state_file}")
    serve(options)
