"""`pledges` (create, edit, apply, show, list): pledge campaigns from the command line.
The options of create and edit are in ``pledge_options``; `release` is in ``release``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
from sqlalchemy import select

from bot.campaigns.schedules.files import discover, read_schedules
from bot.campaigns.schedules.sources import read_files
from bot.campaigns.specs import SpecError
from bot.cli.context import AppContext, pass_app
from bot.cli.output import clip, emit_json, local, plural, table
from bot.cli.pledge_options import spec_from_options, with_options
from bot.people import audit
from bot.pledges import rules
from bot.pledges.campaigns import (
    CampaignReport,
    PledgeCampaignSpec,
    apply_campaigns,
    audit_view,
)
from bot.pledges.pledging import find_campaign, progress
from bot.settings import Settings
from bot.storage.models import Campaign, GoalPolicy, PledgeCampaign

HOW_TO_CREATE = (
    "make one with `python main.py pledges create SLUG --title ... --text ... --goal 100 "
    "--release 'YYYY-MM-DD HH:MM'` (or `pledge_campaigns:` in a schedule file, see "
    "docs/schedule-files.md)"
)


def page_url(settings: Settings, slug: str) -> str:
    """The campaign page's full public address, as supporters open and share it."""
    return f"{settings.web_base_url.rstrip('/')}/c/{quote(slug)}"


def campaign_page_lines(session: Any, settings: Settings) -> list[str]:
    """Each pledge campaign's page, one line each; or how to make the first."""
    slugs = session.scalars(
        select(Campaign.slug).join(PledgeCampaign).order_by(PledgeCampaign.release_at)
    ).all()
    if not slugs:
        return [f"campaign pages: none yet; {HOW_TO_CREATE}"]
    return ["campaign pages:"] + [f"  {page_url(settings, slug)}" for slug in slugs]


def print_campaign_report(
    report: CampaignReport, *, dry_run: bool, settings: Settings | None = None
) -> None:
    """What was done; with ``settings``, the page of each campaign created or updated."""
    for label, items in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("kept as they are (release started)", report.kept),
    ):
        if items:
            counted = (
                f"{plural(len(items), 'pledge campaign')} would be"
                if dry_run
                else plural(len(items), "pledge campaign", verb="was")
            )
            click.echo(f"{counted} {label}: {', '.join(items)}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if settings is not None and not dry_run:
        for slug in [*report.created, *report.updated]:
            click.echo(f"campaign page: {page_url(settings, slug)}")


def _apply(app: AppContext, specs: list[PledgeCampaignSpec], dry_run: bool) -> None:
    """Store ``specs`` with an audit row for each campaign created or changed, in the
    same transaction, as the console does."""
    runtime = app.runtime
    now = datetime.now(UTC)
    try:
        with runtime.sessions() as session:
            report = apply_campaigns(
                session,
                specs,
                now=now,
                default_window=runtime.settings.release_window_minutes,
                dry_run=dry_run,
                commit=False,
            )
            if not dry_run:
                by_slug = {spec.slug: spec for spec in specs}
                actor = audit.cli_actor()
                for action, slugs in (("create", report.created), ("edit", report.updated)):
                    for slug in slugs:
                        audit.record(
                            session,
                            actor=actor,
                            action=f"pledge_campaign.{action}",
                            subject=f"pledge_campaign:{slug}",
                            after=audit_view(by_slug[slug]),
                            at=now,
                        )
                session.commit()
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    print_campaign_report(report, dry_run=dry_run, settings=runtime.settings)


def campaign_or_fail(session: Any, slug: str) -> PledgeCampaign:
    pc = find_campaign(session, slug)
    if pc is None:
        raise click.ClickException(
            f"no pledge campaign {slug!r}; see `python main.py pledges list`"
        )
    return pc


@click.group("pledges")
def pledges() -> None:
    """Pledge campaigns: supporters pledge their accounts; the message goes out from all
    of them at once."""


@pledges.command("create")
@click.argument("slug")
@with_options
@click.option("--dry-run", is_flag=True, help="Check and say what would happen; store nothing.")
@pass_app
def create(app: AppContext, slug: str, dry_run: bool, **given: Any) -> None:
    """Create pledge campaign SLUG (its page is /c/SLUG).

    \b
    python main.py pledges create fujitsu-demo --title "Defend the union at Fujitsu" \\
      --text "Fujitsu: stop victimising union reps. #DefendTheUnion" \\
      --goal 500 --release "2027-03-09 08:30" --tz Europe/London --window 10 \\
      --image banner.jpg --image-alt "Union reps with a banner outside the office"

    The picture (optional) is shown on the campaign page and on the card of its shared
    link; supporters' posts stay as they are: the text and the link.
    """
    with app.runtime.sessions() as session:
        if find_campaign(session, slug) is not None:
            raise click.ClickException(
                f"{slug!r} exists; change it with `python main.py pledges edit {slug}`"
            )
    _apply(app, [spec_from_options(app, slug, None, given)], dry_run)


@pledges.command("edit")
@click.argument("slug")
@with_options
@click.option("--dry-run", is_flag=True, help="Check and say what would happen; store nothing.")
@pass_app
def edit(app: AppContext, slug: str, dry_run: bool, **given: Any) -> None:
    """Change pledge campaign SLUG while it is open; options not given stay as they are."""
    with app.runtime.sessions() as session:
        spec = spec_from_options(app, slug, campaign_or_fail(session, slug), given)
    _apply(app, [spec], dry_run)


@pledges.command("apply")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and say what would happen; store nothing.")
@pass_app
def apply_files(app: AppContext, files: tuple[Path, ...], dry_run: bool) -> None:
    """Store the `pledge_campaigns:` of schedule files (default: every file in
    SCHEDULES_DIR). The whole files are checked first; nothing is stored if any is wrong."""
    settings = app.settings
    paths = list(files) or discover(Path(settings.schedules_dir))
    if not paths:
        raise click.ClickException(f"no schedule files in {settings.schedules_dir}/")
    try:
        # The whole files are checked (their posts too), each read and parsed once.
        specs = read_schedules(
            read_files(paths), default_timezone=settings.timezone
        ).pledge_campaigns
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    if not specs:
        click.echo("no pledge campaigns in these files")
        return
    _apply(app, specs, dry_run)


def summary(session: Any, pc: PledgeCampaign, settings: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    p = progress(session, pc, now, readiness_hours=settings.readiness_hours)
    r = rules.check(session, pc, settings)
    return {
        "slug": pc.campaign.slug,
        "title": pc.campaign.title,
        "page": page_url(settings, pc.campaign.slug),
        "state": pc.state,
        "release_at": pc.release_at,
        "timezone": pc.timezone,
        "goal": pc.goal,
        "goal_policy": pc.goal_policy,
        "window_minutes": pc.window_minutes,
        "allow_edit": pc.allow_edit,
        "message": pc.message,
        "variants": pc.variants,
        "link": pc.link,
        "image": (
            {
                "path": pc.image_path,
                "type": pc.image_type,
                "width": pc.image_width,
                "height": pc.image_height,
                "alt": pc.image_alt,
                "sha256": pc.image_sha256,
                "url": f"{settings.web_base_url.rstrip('/')}/c/{pc.campaign.slug}/image",
            }
            if pc.image_sha256
            else None
        ),
        "pledged": p.pledged,
        "by_platform": p.by_platform,
        "pledged_reach": p.pledged_reach,
        "ready_reach": p.ready_reach,
        "seconds_left": p.seconds_left,
        "rules": {
            "x_posts": r.x_posts,
            "facebook_posts": r.facebook_posts,
            "bluesky_posts": r.bluesky_posts,
            "bluesky_minutes_at_worst": r.bluesky_minutes_at_worst,
            "mastodon_posts": r.mastodon_posts,
            "window_minutes": r.window_minutes,
            "release_minutes": r.release_minutes,
            "durations": r.durations_json(),
            "x_with_url": r.x_with_url,
            "cost_usd": r.cost_usd,
            "app_daily_limit": r.app_daily_limit,
            "app_used_before": r.app_used_before,
            "go_at_release": r.go_at_release,
            "deferred": r.deferred,
            "deferred_until": r.deferred_until,
            "busiest_account_posts": r.busiest_account_posts,
            "identical": [{"text": t, "accounts": n} for t, n in r.identical],
            "warnings": r.warnings,
        },
        "rules_lines": r.lines(),
    }


@pledges.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def show(app: AppContext, slug: str, as_json: bool) -> None:
    """A pledge campaign: its message, progress, rules and costs."""
    with app.runtime.sessions() as session:
        data = summary(session, campaign_or_fail(session, slug), app.settings)
    if as_json:
        data.pop("rules_lines")
        emit_json(data)
        return
    click.echo(f"{data['title']}  ({data['slug']}, {data['state'].replace('_', ' ')})")
    click.echo(f"page: {data['page']}")
    click.echo(
        f"release: {local(data['release_at'], data['timezone'])}, window "
        f"{data['window_minutes']} min, if the goal is missed: "
        + ("post nothing" if data["goal_policy"] == GoalPolicy.ALL_OR_NOTHING else "release anyway")
    )
    click.echo(
        f"pledged: {data['pledged']} of {data['goal']} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(data['by_platform'].items())) or 'none yet'}); "
        f"reach {data['pledged_reach']:,}, ready {data['ready_reach']:,}"
    )
    for platform, text in data["message"].items():
        click.echo(f"{platform}: {clip(text, 90)}")
    for number, variant in enumerate(data["variants"], 1):
        click.echo(f"variant {number}: {clip(variant, 90)}")
    image = data["image"]
    if image:
        click.echo(
            f"picture (page and shared link only): {image['path']}, {image['type']} "
            f"{image['width']}×{image['height']}, alt: {clip(image['alt'], 60)}"
        )
    for line in data["rules_lines"]:
        click.echo(line)


@pledges.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def list_campaigns(app: AppContext, as_json: bool) -> None:
    """Every pledge campaign with its progress."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    with app.runtime.sessions() as session:
        for pc in session.scalars(
            select(PledgeCampaign).join(Campaign).order_by(PledgeCampaign.release_at)
        ):
            p = progress(session, pc, now)
            rows.append(
                {
                    "slug": pc.campaign.slug,
                    "title": pc.campaign.title,
                    "state": pc.state,
                    "release_at": pc.release_at,
                    "timezone": pc.timezone,
                    "pledged": p.pledged,
                    "goal": p.goal,
                    "pledged_reach": p.pledged_reach,
                }
            )
    if as_json:
        emit_json(rows)
        return
    table(
        (
            (
                r["slug"],
                clip(r["title"], 40),
                r["state"],
                local(r["release_at"], r["timezone"]),
                f"{r['pledged']}/{r['goal']}",
                f"{r['pledged_reach']:,}",
            )
            for r in rows
        ),
        ("campaign", "title", "state", "release", "pledged", "reach"),
        empty="no pledge campaigns yet; create one with `python main.py pledges create`",
    )
