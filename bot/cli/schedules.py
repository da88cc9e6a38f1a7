"""`apply`: schedule files into the queue, all-or-nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bot.campaigns.enqueue import StartedMeanwhile, apply_specs
from bot.campaigns.schedules.files import discover, load_files
from bot.campaigns.schedules.pledge_campaigns import load_pledge_files
from bot.campaigns.specs import SpecError
from bot.cli.context import AppContext, pass_app
from bot.cli.pledges import print_campaign_report
from bot.cli.posts import print_report
from bot.pledges.campaigns import apply_campaigns


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
    now = datetime.now(UTC)
    try:
        specs = load_files(paths, default_timezone=app.settings.timezone)
        campaigns = load_pledge_files(paths, default_timezone=app.settings.timezone)
        with app.runtime.sessions() as session:
            # One transaction for both: a file's posts and pledge campaigns go in together
            # or not at all.
            campaign_report = apply_campaigns(
                session,
                campaigns,
                now=now,
                dry_run=dry_run,
                commit=False,
                default_window=app.settings.release_window_minutes,
            )
            report = apply_specs(
                session, specs, now=now, allow_past=allow_past, dry_run=dry_run, commit=False
            )
            if not dry_run:
                session.commit()
    except (SpecError, StartedMeanwhile) as exc:
        raise click.ClickException(str(exc)) from None
    read_from = f"{len(paths)} file{'s' if len(paths) != 1 else ''}"
    click.echo(f"read {len(specs)} posts and {len(campaigns)} pledge campaigns from {read_from}")
    print_campaign_report(campaign_report, dry_run=dry_run)
    print_report(report, dry_run=dry_run)
