"""`report CAMPAIGN`: what the campaign's posts achieved, as a table, CSV, JSON or a chart."""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from bot.cli.context import AppContext, pass_app
from bot.cli.output import LIMIT, clip, emit_json, plural, table
from bot.cli.posts import cli_reader
from bot.engagement.report import Stage
from bot.platforms.base import METRIC_NAMES
from bot.runtime.wiring import clock_rate


def _print_growth(stages: list[Stage], rate: float) -> None:
    """How engagement grew: each planned snapshot's readings added up, in age order."""
    if rate == 1:
        click.echo("\ngrowth (each post's reading at each snapshot, added up):")
    else:
        click.echo(
            "\ngrowth in sandbox time (each post's reading at each snapshot, added up; the "
            f"sandbox's clock runs {rate:g}x faster than real time, so a week took "
            f"{7 * 86400 / rate / 60:.3g} real minutes):"
        )
    metrics = [m for m in METRIC_NAMES if any(s.metrics[m].value is not None for s in stages)]
    table(
        ((f"after {s.label}", s.posts, *(_shown(s.metrics[m]) for m in metrics)) for s in stages),
        ("snapshot", "posts", *(m.replace("_", " ") for m in metrics)),
        empty="",
    )
    if len({s.posts for s in stages}) > 1:
        click.echo(
            "(a row counts only the posts old enough for that snapshot: compare rows with "
            "the same number of posts, or see one post with --post KEY)"
        )


def _shown(total: object) -> str:
    value = getattr(total, "value", None)
    if value is None:
        return "n/a"
    if getattr(total, "estimated", False):
        return f"~{value} ({total.low}-{total.high})"  # type: ignore[attr-defined]
    return str(value)


@click.command("report")
@click.argument("campaign")
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write one row per post per snapshot to this file ('-' = standard output).",
)
@click.option("--json", "as_json", is_flag=True, help="The report as JSON, for scripts.")
@click.option(
    "--chart",
    "chart_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw cumulative engagement over time per platform to FILE.png or FILE.svg.",
)
@click.option("--top", default=5, show_default=True, type=LIMIT, help="How many top posts to list.")
@click.option(
    "--post",
    "post_key",
    metavar="KEY",
    help="Only this post of the campaign (one post sent from many accounts is one post).",
)
@pass_app
def report(
    app: AppContext,
    campaign: str,
    csv_file: Path | None,
    as_json: bool,
    chart_file: Path | None,
    top: int,
    post_key: str | None,
) -> None:
    """Posts sent and failed, reach and engagement of CAMPAIGN, per platform and in total.

    With --json, also the cumulative series per platform that the chart draws.

    Engagement is each post's latest snapshot; "~" marks an estimate from a sampled
    release, with its 95% interval; "n/a" a metric the platforms did not give.
    """
    from bot.engagement import chart
    from bot.engagement import report as reports
    from bot.pledges import kept_tokens
    from bot.storage.models import Campaign

    if chart_file is not None and chart_file.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter("must end in .png or .svg", param_hint="--chart")
    rate = clock_rate(app.settings)
    with app.runtime.sessions() as session:
        try:
            built = reports.build(session, campaign, top=top, post=post_key)
        except reports.UnknownPost:
            raise click.ClickException(f"campaign {campaign!r} has no post {post_key!r}") from None
        except reports.UnknownCampaign:
            raise click.ClickException(f"no campaign {campaign!r}") from None
        stages = reports.growth(session, campaign, post=post_key)
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.slug == campaign))
        note = (
            kept_tokens.no_figures_note(session, campaign_id, app.settings)
            if campaign_id is not None
            else ""
        )
        if csv_file is not None:
            if str(csv_file) == "-":
                count = reports.write_csv(session, campaign, sys.stdout, rate, post=post_key)
            else:
                with csv_file.open("w", newline="", encoding="utf-8") as out:
                    count = reports.write_csv(session, campaign, out, rate, post=post_key)
                click.echo(f"wrote {plural(count, 'row')} to {csv_file}", err=True)
        series = (
            chart.cumulative(session, campaign, post=post_key) if (as_json or chart_file) else {}
        )
        if chart_file is not None:
            zone = session.scalar(select(Campaign.timezone).where(Campaign.slug == campaign))
            named = (
                " / "
                + reports.named_post(
                    session, campaign, post_key, reader=cli_reader(False), now=datetime.now(UTC)
                )
                if post_key
                else ""
            )
            chart.draw(
                series,
                chart_file,
                f"{built.title or built.campaign}{named}: engagement",
                acceleration=rate,
                start=built.first_sent,
                zone=zone or "UTC",
            )
            click.echo(f"wrote the chart to {chart_file}", err=True)
    if as_json:
        data = built.as_json()
        data["clock_acceleration"] = rate
        data["note"] = note or None
        data["growth"] = [asdict(stage) for stage in stages]
        data["series"] = {
            platform: [
                {"at": at.isoformat(), "interactions": inter, "views": views}
                for at, inter, views in points
            ]
            for platform, points in series.items()
        }
        emit_json(data)
        return
    if csv_file is not None and str(csv_file) == "-":
        return
    columns = [*built.platforms.values(), built.total]
    which = f"campaign {built.campaign}" + (f", post {post_key}" if post_key else "")
    click.echo(f"{which}: {built.snapshots} snapshot values recorded")
    rows = [
        ("posts sent", *(s.sent for s in columns)),
        ("failed", *(s.failed for s in columns)),
        ("still going", *(s.going for s in columns)),
        ("deleted since", *(s.deleted for s in columns)),
        ("reach (followers)", *(s.reach for s in columns)),
        *(
            (metric.replace("_", " "), *(_shown(s.metrics[metric]) for s in columns))
            for metric in METRIC_NAMES
        ),
    ]
    names = ["X" if s.platform == "x" else s.platform for s in columns]
    table(rows, ("", *names), empty="nothing yet")
    if note:
        click.echo(f"note: {note}")
    if stages:
        _print_growth(stages, rate)
    if built.top_posts:
        click.echo("\ntop posts (likes + reposts + replies + quotes):")
        table(
            (
                (
                    p.platform,
                    p.account,
                    p.interactions,
                    "n/a" if p.views is None else p.views,
                    clip(p.url, 60),
                )
                for p in built.top_posts
            ),
            ("platform", "account", "interactions", "views", "url"),
            empty="",
        )
