"""`apply`: schedule files into the queue, all-or-nothing; `schedules export`: a
campaign's pending posts back out as a schedule file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bot.campaigns import embargo
from bot.campaigns.enqueue import StartedMeanwhile
from bot.campaigns.schedules.applying import applied_summary, apply_schedules
from bot.campaigns.schedules.export import UnknownCampaign, export_campaign
from bot.campaigns.schedules.files import discover
from bot.campaigns.schedules.sources import read_files
from bot.campaigns.specs import SpecError
from bot.cli.context import AppContext, pass_app
from bot.cli.daemon import warn_without_daemon
from bot.cli.output import plural
from bot.cli.pledges import print_campaign_report
from bot.cli.posts import print_report
from bot.people import audit
from bot.people.audit import cli_actor


@click.command("apply")
@click.argument("files", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check everything and say what would change.")
@click.option(
    "--now",
    "allow_past",
    is_flag=True,
    help="Post anything whose time has passed straight away instead of refusing.",
)
@pass_app
def apply(app: AppContext, files: tuple[Path, ...], dry_run: bool, allow_past: bool) -> None:
    """Queue the posts and pledge campaigns in schedule FILES (default: every *.yaml in
    SCHEDULES_DIR).

    Every file is checked first; if anything is wrong, nothing is stored and every problem
    is listed with its file, line, field and value. Re-applying an edited file updates its
    pending posts by id; posts already sent are never changed.
    """
    paths = list(files) or discover(Path(app.settings.schedules_dir))
    if not paths:
        raise click.ClickException(
            f"no schedule files in {app.settings.schedules_dir}/; write one (see "
            "docs/schedule-files.md) or name files to apply"
        )
    actor = audit.cli_actor()
    try:
        with app.runtime.sessions() as session:
            outcome = apply_schedules(
                session,
                read_files(paths),
                now=datetime.now(UTC),
                default_timezone=app.settings.timezone,
                default_window=app.settings.release_window_minutes,
                dry_run=dry_run,
                allow_past=allow_past,
                author=actor,
            )
            if not dry_run and outcome.changed:
                audit.record(
                    session,
                    actor=actor,
                    action="schedule.apply",
                    subject="schedule:" + ", ".join(str(path) for path in paths),
                    after=applied_summary(outcome),
                )
            if not dry_run:
                session.commit()
    except (SpecError, StartedMeanwhile) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"read {plural(outcome.post_count, 'post')} and "
        f"{plural(outcome.campaign_count, 'pledge campaign')} from {plural(len(paths), 'file')}"
    )
    print_campaign_report(outcome.campaigns, dry_run=dry_run, settings=app.settings)
    print_report(outcome.posts, dry_run=dry_run)
    if not dry_run:
        warn_without_daemon(app)


@click.group()
def schedules() -> None:
    """Schedule files: export a campaign's posts (apply them with `apply`)."""


@schedules.command("export")
@click.argument("campaign")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the file here instead of printing it.",
)
@click.option(
    "--show-embargoed",
    is_flag=True,
    help="Include embargoed statements before their time (left out otherwise).",
)
@pass_app
def export(app: AppContext, campaign: str, output: Path | None, show_embargoed: bool) -> None:
    """Write CAMPAIGN's pending posts as a schedule file that applies back unchanged.

    Posts that have started going out or were cancelled, event reminders and (without
    --show-embargoed) embargoed statements before their time are left out and named in
    the file's opening comment.
    """
    reader = embargo.Reader(cli_actor(), sees_all=show_embargoed)
    with app.runtime.sessions() as session:
        try:
            exported = export_campaign(session, campaign, reader=reader)
        except UnknownCampaign as exc:
            raise click.ClickException(str(exc)) from None
    if output is None:
        click.echo(exported.text, nl=False)
        return
    output.write_text(exported.text, encoding="utf-8")
    left = f"; {plural(len(exported.left_out), 'post')} left out (see the file's opening comment)"
    click.echo(
        f"wrote {plural(len(exported.posts), 'pending post')} of {campaign} to {output}"
        + (left if exported.left_out else "")
    )
