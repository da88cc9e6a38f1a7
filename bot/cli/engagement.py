"""`engagement`: take snapshots now, see what a campaign's snapshot plan will cost, set its
cap and sampling."""

from __future__ import annotations

import click
import requests
from sqlalchemy import select

from bot.cli.context import AppContext, pass_app
from bot.cli.output import plural, table
from bot.click_numbers import Finite, whole
from bot.runtime.wiring import Runtime
from bot.sandbox.options import admin_headers
from bot.storage.models import Campaign, EngagementPolicy

# A campaign's X read budget in US dollars: far above any campaign's, and a number the
# plan can print and compare.
MAX_CAP_USD = 1_000_000.0
# Posts read per release per snapshot: above the largest release.
MAX_SAMPLE = 1_000_000


@click.group()
def engagement() -> None:
    """Engagement snapshots: how posts did after they went out.

    The daemon (`python main.py run`) takes them by itself at ENGAGEMENT_OFFSETS after
    each post; these commands look ahead and take one now.
    """


def platform_runtime(app: AppContext) -> Runtime:
    """The runtime, pointed at the sandbox when that is where the posts went."""
    runtime = app.runtime
    settings = app.settings
    if not settings.uses_sandbox:
        return runtime
    url = settings.sandbox_url or f"http://127.0.0.1:{settings.sandbox_port}"
    try:
        answer = requests.get(
            f"{url}/_sandbox/app",
            timeout=10,
            headers=admin_headers(settings.sandbox_admin_token.reveal()),
        )
        answer.raise_for_status()
    except requests.RequestException:
        raise click.ClickException(
            f"the sandbox at {url} is not running: start `python main.py run` (it runs the "
            "sandbox) or set SANDBOX_URL"
        ) from None
    return runtime.with_sandbox(url, answer.json())


def _campaign(app: AppContext, slug: str) -> Campaign:
    with app.runtime.sessions() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.slug == slug))
        if campaign is None:
            raise click.ClickException(f"no campaign {slug!r}")
        session.expunge(campaign)
        return campaign


@engagement.command("refresh")
@click.argument("campaign", required=False)
@pass_app
def refresh(app: AppContext, campaign: str | None) -> None:
    """Record the engagement of every live sent post now (or only CAMPAIGN's).

    Adds a snapshot labelled "refresh"; the planned ones still happen. X reads count
    against the campaign's cap and are billed once per post per UTC day.
    """
    from bot.engagement.poll import poller_for

    if campaign is not None:
        _campaign(app, campaign)
    runtime = platform_runtime(app)
    result = poller_for(runtime).run(campaign, refresh=True)
    click.echo(result.summary())
    for error in sorted(set(result.errors))[:5]:
        click.echo(f"  not read: {error}", err=True)


@engagement.command("plan")
@click.argument("campaign")
@click.option(
    "--cap",
    "cap_usd",
    type=Finite(0, MAX_CAP_USD),
    help="Stop reading the campaign's X posts once this many US dollars are spent "
    "(0 = no X reads; use --no-cap to remove).",
)
@click.option("--no-cap", is_flag=True, help="Remove the campaign's cap.")
@click.option(
    "--sample",
    "sample_size",
    type=whole(0, MAX_SAMPLE),
    help="Read at most this many posts of each release per snapshot and estimate the rest "
    "(0 = read every post). At least 2.",
)
@pass_app
def plan_command(
    app: AppContext, campaign: str, cap_usd: float | None, no_cap: bool, sample_size: int | None
) -> None:
    """Show CAMPAIGN's snapshot plan and its projected X read cost; set its cap and sampling."""
    from bot.engagement import costs
    from bot.engagement.plan import clock_note

    if sample_size == 1:
        raise click.BadParameter(
            "a sample of one has no spread: use 2 or more", param_hint="--sample"
        )
    settings = app.settings
    found = _campaign(app, campaign)
    with app.runtime.sessions() as session:
        policy = session.get(EngagementPolicy, found.id)
        if cap_usd is not None or no_cap or sample_size is not None:
            policy = policy or EngagementPolicy(campaign_id=found.id)
            if cap_usd is not None or no_cap:
                policy.cap_usd = None if no_cap else cap_usd
            if sample_size is not None:
                policy.sample_size = sample_size or None
            session.merge(policy)
            session.commit()
            policy = session.get(EngagementPolicy, found.id)
        cap = policy.cap_usd if policy else None
        sample = policy.sample_size if policy else None
        # The real X's cost, even in a sandbox rehearsal (where reads are free and an
        # accelerated week falls on one UTC day): that is the figure a campaign plans with.
        projection = costs.project(
            session, found.id, settings.engagement_offsets, settings.x_read_cost_usd, sample
        )
    offsets = ", ".join(label for label, _ in settings.engagement_offsets)
    click.echo(f"campaign {found.slug}: snapshots at {offsets} after each post")
    note = clock_note(settings.engagement_offsets, settings.clock_acceleration)
    if note:
        click.echo(f"on the sandbox: {note}")
    click.echo(
        f"X posts planned: {projection.x_posts}; billable reads: {projection.reads} "
        f"at ${settings.x_read_cost_usd:.3f} (once per post per UTC day)"
    )
    table(
        (
            (label, reads, f"${reads * settings.x_read_cost_usd:.2f}")
            for label, reads in projection.per_offset
        ),
        ("snapshot", "X reads", "cost"),
        empty="(no snapshot offsets)",
    )
    click.echo(
        f"projected X read cost: ${projection.cost_usd:.2f}; "
        f"spent so far: ${projection.spent_usd:.2f}"
    )
    click.echo(f"cap: {'none' if cap is None else f'${cap:.2f}'}")
    if sample:
        click.echo(
            f"sampling: at most {plural(sample, 'post')} per release per snapshot "
            f"({plural(projection.sampled_releases, 'release')} sampled)"
        )
    else:
        click.echo("sampling: off, every post is read")
    if cap is not None and projection.cost_usd > cap:
        click.echo(
            "warning: the plan costs more than the cap; later snapshots of X posts will be "
            "skipped once it is spent (try --sample)",
            err=True,
        )
