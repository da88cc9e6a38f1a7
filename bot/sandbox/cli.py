"""``clarion sandbox``: run the sandbox in the foreground."""

from __future__ import annotations

from collections.abc import Callable

import click

from bot.click_numbers import Finite, whole
from bot.runtime.logs import configure_logging
from bot.sandbox.options import LATENCY_DISTRIBUTIONS, FaultConfig, RateLimits, SandboxOptions

_RATE = Finite(0.0, 1.0)
# Longer than any test or rehearsal waits, and short enough to stay a valid timeout.
MAX_SECONDS = 7 * 86400.0

# Each platform's faults, as --PREFIX-KIND-rate options: (option prefix, what it calls).
FAULTED = {
    "x": ("x", "X calls"),
    "facebook": ("fb", "Graph calls"),
    "bluesky": ("bsky", "XRPC calls"),
    "mastodon": ("mastodon", "Mastodon API calls (every instance)"),
}
FAULT_KINDS = (
    ("error", "answered 5xx"),
    ("timeout", "held, then dropped"),
    ("reset", "reset (RST)"),
    ("accept_then_drop", "carried out whose answer is then lost"),
    ("accept_then_error", "carried out but answered 5xx (as a busy gateway can)"),
)


def fault_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add --x-error-rate, --fb-timeout-rate, ... : one option per platform and fault."""
    for prefix, calls in reversed(FAULTED.values()):
        for kind, what in reversed(FAULT_KINDS):
            command = click.option(
                f"--{prefix}-{kind.replace('_', '-')}-rate",
                f"{prefix}_{kind}_rate",
                type=_RATE,
                default=0.0,
                help=f"Share of {calls} {what}.",
            )(command)
    return command


def faults_from(rates: dict[str, float], prefix: str, timeout_hold_s: float) -> FaultConfig:
    """One platform's FaultConfig from the options ``fault_options`` added."""
    return FaultConfig(
        error_rate=rates[f"{prefix}_error_rate"],
        timeout_rate=rates[f"{prefix}_timeout_rate"],
        reset_rate=rates[f"{prefix}_reset_rate"],
        accept_then_drop_rate=rates[f"{prefix}_accept_then_drop_rate"],
        accept_then_error_rate=rates[f"{prefix}_accept_then_error_rate"],
        timeout_hold_s=timeout_hold_s,
    )


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8700, show_default=True, type=whole(1, 65535), help="Port to listen on."
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="SQLite file that keeps users, pages and posts across restarts (default: memory).",
)
@click.option(
    "--seed", default=1, show_default=True, type=whole(0), help="Seed for faults and metrics."
)
@click.option(
    "--time-acceleration",
    default=1.0,
    show_default=True,
    type=Finite(0.001, 1_000_000),
    help="How much faster engagement grows than real time (post times, token lifetimes,"
    " duplicate windows and rate limits stay real).",
)
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=Finite(0, MAX_SECONDS * 1000),
    help="Mean added latency.",
)
@click.option(
    "--latency-distribution",
    type=click.Choice(LATENCY_DISTRIBUTIONS),
    default="fixed",
    show_default=True,
    help="How the added latency varies around its mean.",
)
@fault_options
@click.option(
    "--timeout-hold-s",
    type=Finite(0, MAX_SECONDS),
    default=30.0,
    show_default=True,
    help="How long a 'timeout' holds the connection before dropping it.",
)
@click.option(
    "--x-posts-per-user",
    type=whole(0),
    default=RateLimits.x_posts_per_user,
    show_default=True,
    help="POST /2/tweets allowed per user per 15 minutes.",
)
@click.option(
    "--x-posts-per-app",
    type=whole(0),
    default=RateLimits.x_posts_per_app,
    show_default=True,
    help="POST /2/tweets allowed per app per 24 hours.",
)
@click.option(
    "--x-monthly-post-cap",
    type=whole(0),
    default=None,
    help="Posts per month before X answers 429 usage-capped (default: no cap).",
)
@click.option(
    "--duplicate-window-s",
    type=Finite(0, 400 * 86400),
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
    timeout_hold_s: float,
    x_posts_per_user: int,
    x_posts_per_app: int,
    x_monthly_post_cap: int | None,
    duplicate_window_s: float,
    fb_require_appsecret_proof: bool,
    log_level: str,
    admin_token: str,
    **fault_rates: float,
) -> None:
    """Run the Clarion sandbox: a stand-in for X API v2, the Facebook Graph API, Bluesky and
    Mastodon.

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
            platform: faults_from(fault_rates, prefix, timeout_hold_s)
            for platform, (prefix, _) in FAULTED.items()
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
