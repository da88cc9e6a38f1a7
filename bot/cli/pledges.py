"""`pledges` (create, edit, apply, show, list) and `release` (status, check) commands."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from bot.cli.context import AppContext, pass_app
from bot.cli.output import clip, emit_json, local, table
from bot.db.models import Campaign, GoalPolicy, PledgeCampaign
from bot.pledges import release as releases
from bot.pledges import rules
from bot.pledges.campaigns import CampaignReport, PledgeCampaignSpec, apply_campaigns
from bot.pledges.pledging import find_campaign, progress
from bot.schedule_pledges import load_pledge_files
from bot.schedule_times import TimeProblem, parse_time, zone
from bot.schedules import discover, load_files
from bot.specs import SpecError

POLICY_CHOICE = {
    "post-nothing": GoalPolicy.ALL_OR_NOTHING,
    "release-anyway": GoalPolicy.RELEASE_ANYWAY,
}


def print_campaign_report(report: CampaignReport, *, dry_run: bool) -> None:
    verb = "would be" if dry_run else "were"
    for label, items in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("kept as they are (release started)", report.kept),
    ):
        if items:
            click.echo(f"{len(items)} pledge campaigns {verb} {label}: {', '.join(items)}")
    for note in report.notes:
        click.echo(f"note: {note}")


def _apply(app: AppContext, specs: list[PledgeCampaignSpec], dry_run: bool) -> None:
    runtime = app.runtime
    try:
        with runtime.sessions() as session:
            report = apply_campaigns(
                session,
                specs,
                now=datetime.now(UTC),
                default_window=runtime.settings.release_window_minutes,
                dry_run=dry_run,
            )
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    print_campaign_report(report, dry_run=dry_run)


def _campaign(session: Any, slug: str) -> PledgeCampaign:
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


_options = [
    click.option("--title", help="What supporters see first."),
    click.option("--description", help="A paragraph for the campaign page."),
    click.option("--text", "text_all", help="The message, on every platform."),
    click.option("--x-text", help="The message on X (instead of --text there)."),
    click.option("--facebook-text", help="The message on Facebook (instead of --text there)."),
    click.option(
        "--platforms",
        default=None,
        help="Where supporters can pledge, comma-separated (create: x,facebook; edit: as it is).",
    ),
    click.option("--variant", "variants", multiple=True, help="Another wording (repeatable)."),
    click.option("--link", help="A web address; UTM-tagged per platform."),
    click.option("--image", help="A picture for the campaign page (a path)."),
    click.option("--goal", type=click.IntRange(min=1), help="How many supporters you aim for."),
    click.option("--release", "release_text", help="When it goes out: 'YYYY-MM-DD HH:MM'."),
    click.option("--tz", help="Time zone of --release (default TIMEZONE)."),
    click.option(
        "--if-goal-missed", type=click.Choice(sorted(POLICY_CHOICE)), help="Default post-nothing."
    ),
    click.option(
        "--window",
        type=click.IntRange(0, 1440),
        help="Minutes to spread the posts over (0 = at once).",
    ),
    click.option("--allow-edit/--no-edit", default=None, help="May supporters change the wording?"),
]


def with_options(function: Any) -> Any:
    for option in reversed(_options):
        function = option(function)
    return function


def _spec(
    app: AppContext, slug: str, base: PledgeCampaign | None, given: dict[str, Any]
) -> PledgeCampaignSpec:
    tz_name = given["tz"] or (base.timezone if base else app.settings.timezone)
    try:
        tz = zone(tz_name)
    except TimeProblem as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None
    if given["release_text"]:
        try:
            release_at = parse_time(given["release_text"], tz).astimezone(UTC)
        except TimeProblem as exc:
            raise click.BadParameter(str(exc), param_hint="--release") from None
    elif base is not None:
        release_at = base.release_at
    else:
        raise click.UsageError("--release is needed: when does it go out?")
    if given["image"]:
        raise click.UsageError(
            "images are not supported yet: nothing would show or post it; leave --image out"
        )
    # Without --platforms, an edit keeps the campaign's platforms (a new --text must not
    # add one the volunteer left out); a create offers both.
    if given["platforms"] is not None:
        platforms = [p.strip() for p in given["platforms"].split(",") if p.strip()]
    else:
        platforms = list(base.message) if base else ["x", "facebook"]
    current = dict(base.message) if base else {}
    message = {p: current[p] for p in platforms if p in current}
    if given["text_all"]:
        message = {p: given["text_all"] for p in platforms}
    for platform, key in (("x", "x_text"), ("facebook", "facebook_text")):
        if given[key]:
            message[platform] = given[key]
    if not message:
        raise click.UsageError("--text (or --x-text / --facebook-text) is needed")
    missing = [p for p in platforms if p not in message]
    if missing:
        raise click.UsageError(
            f"no text for {', '.join(missing)}: give --text (or --x-text / --facebook-text)"
        )
    title = given["title"] or (base.campaign.title if base else "")
    goal = given["goal"] or (base.goal if base else None)
    if goal is None:
        raise click.UsageError("--goal is needed: how many supporters do you aim for?")
    policy = (
        POLICY_CHOICE[given["if_goal_missed"]]
        if given["if_goal_missed"]
        else (base.goal_policy if base else GoalPolicy.ALL_OR_NOTHING)
    )

    def pick(key: str, current: Any, default: Any) -> Any:
        value = given[key]
        if value is None or value == ():
            return current if base is not None else default
        return value

    return PledgeCampaignSpec(
        slug=slug,
        title=title,
        description=pick("description", base and base.description, ""),
        message=message,
        variants=tuple(pick("variants", base and base.variants, ())),
        link=pick("link", base and base.link, None),
        image=None,
        goal=goal,
        release_at=release_at,
        timezone=tz_name,
        goal_policy=policy,
        window_minutes=pick("window", base and base.window_minutes, None),
        allow_edit=pick("allow_edit", base and base.allow_edit, True),
    )


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
      --goal 500 --release "2027-03-09 08:30" --tz Europe/London --window 10
    """
    with app.runtime.sessions() as session:
        if find_campaign(session, slug) is not None:
            raise click.ClickException(
                f"{slug!r} exists; change it with `python main.py pledges edit {slug}`"
            )
    _apply(app, [_spec(app, slug, None, given)], dry_run)


@pledges.command("edit")
@click.argument("slug")
@with_options
@click.option("--dry-run", is_flag=True, help="Check and say what would happen; store nothing.")
@pass_app
def edit(app: AppContext, slug: str, dry_run: bool, **given: Any) -> None:
    """Change pledge campaign SLUG while it is open; options not given stay as they are."""
    with app.runtime.sessions() as session:
        spec = _spec(app, slug, _campaign(session, slug), given)
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
        load_files(paths, default_timezone=settings.timezone)
        specs = load_pledge_files(paths, default_timezone=settings.timezone)
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    if not specs:
        click.echo("no pledge campaigns in these files")
        return
    _apply(app, specs, dry_run)


def _summary(session: Any, pc: PledgeCampaign, settings: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    p = progress(session, pc, now, readiness_hours=settings.readiness_hours)
    r = rules.check(session, pc, settings)
    return {
        "slug": pc.campaign.slug,
        "title": pc.campaign.title,
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
        "pledged": p.pledged,
        "by_platform": p.by_platform,
        "pledged_reach": p.pledged_reach,
        "ready_reach": p.ready_reach,
        "seconds_left": p.seconds_left,
        "rules": {
            "x_posts": r.x_posts,
            "facebook_posts": r.facebook_posts,
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
        data = _summary(session, _campaign(session, slug), app.settings)
    if as_json:
        data.pop("rules_lines")
        emit_json(data)
        return
    click.echo(f"{data['title']}  ({data['slug']}, {data['state'].replace('_', ' ')})")
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


@click.group("release")
def release() -> None:
    """A pledge campaign's release: check the rules before, watch it go out."""


def _status_json(st: releases.ReleaseStatus) -> dict[str, Any]:
    return {
        "campaign": st.slug,
        "state": st.state,
        "release_at": st.release_at,
        "total": st.total,
        "done": st.done,
        "sent": st.sent,
        "by_state": st.by_state,
        "by_platform": st.by_platform,
        "needs_reconnect": st.needs_reconnect,
        "last_sent_at": st.last_sent_at,
    }


def _read_status(app: AppContext, slug: str) -> releases.ReleaseStatus:
    with app.runtime.sessions() as session:
        return releases.status(session, _campaign(session, slug))


def _bar(st: releases.ReleaseStatus, width: int = 30) -> str:
    filled = int(width * st.done / st.total) if st.total else 0
    counts = ", ".join(f"{n} {s}" for s, n in sorted(st.by_state.items()))
    return f"[{'#' * filled}{'.' * (width - filled)}] {st.done}/{st.total} final ({counts})"


@release.command("status")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="Counts as JSON, once.")
@click.option(
    "--watch/--once",
    default=None,
    help="Keep the progress bar updating until every post is final (default in a terminal).",
)
@click.option("--every", default=1.0, show_default=True, help="Seconds between updates.")
@pass_app
def status(app: AppContext, campaign: str, as_json: bool, watch: bool | None, every: float) -> None:
    """How far CAMPAIGN's release has gone: a live progress bar, or counts in --json."""
    st = _read_status(app, campaign)
    if as_json:
        emit_json(_status_json(st))
        return
    if watch is None:
        watch = sys.stdout.isatty()
    click.echo(f"{st.slug}: {st.state.replace('_', ' ')}, release {local(st.release_at, 'UTC')}")
    if not st.total:
        click.echo("no posts yet: the release has not been written (see `pledges show`)")
        return
    while True:
        click.echo(f"\r{_bar(st)}", nl=not watch)
        if not watch or st.done >= st.total:
            break
        time.sleep(every)
        st = _read_status(app, campaign)
    if watch:
        click.echo()
    if st.needs_reconnect:
        click.echo(f"{st.needs_reconnect} pledged accounts need reconnecting")
    if st.last_sent_at is not None:
        late = (st.last_sent_at - st.release_at).total_seconds()
        click.echo(f"last post acknowledged {late:.1f}s after the release time")


@release.command("check")
@click.argument("campaign")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_app
def check(app: AppContext, campaign: str, as_json: bool) -> None:
    """Platform rules and costs of releasing CAMPAIGN with its pledges as they are now."""
    with app.runtime.sessions() as session:
        data = _summary(session, _campaign(session, campaign), app.settings)
    if as_json:
        emit_json({"campaign": data["slug"], **data["rules"]})
        return
    for line in data["rules_lines"]:
        click.echo(line)
    if not data["rules"]["warnings"]:
        click.echo("no rule is in the way of this release")
