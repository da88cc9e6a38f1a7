"""`release` (status, check, hold, resume, cancel, stop): a pledge campaign's release,
checked before, watched as it goes out, and held, cancelled or stopped by an approver."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from bot.campaigns.schedules.times import TimeProblem, parse_time, zone
from bot.cli.context import AppContext, pass_app
from bot.cli.output import emit_json, local, plural
from bot.cli.pledges import campaign_or_fail, summary
from bot.click_numbers import Finite
from bot.people.audit import cli_actor
from bot.pledges import controls
from bot.pledges import release as releases
from bot.storage.models import utcnow


@click.group("release")
def release() -> None:
    """A pledge campaign's release: check the rules before, watch it go out, hold,
    cancel or stop it."""


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
        return releases.status(session, campaign_or_fail(session, slug))


def _timezone(app: AppContext, slug: str) -> str:
    with app.runtime.sessions() as session:
        return campaign_or_fail(session, slug).timezone


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
@click.option(
    "--every",
    default=1.0,
    show_default=True,
    type=Finite(0.1, 3600),
    help="Seconds between updates.",
)
@pass_app
def status(app: AppContext, campaign: str, as_json: bool, watch: bool | None, every: float) -> None:
    """How far CAMPAIGN's release has gone: a live progress bar, or counts in --json."""
    st = _read_status(app, campaign)
    if as_json:
        emit_json(_status_json(st))
        return
    if watch is None:
        watch = sys.stdout.isatty()
    # In the campaign's own zone, as `pledges show` and the pages give it: 08:30 in London
    # in summer is 07:30 UTC, and a volunteer reading that would think it went out early.
    when = local(st.release_at, _timezone(app, campaign))
    click.echo(f"{st.slug}: {st.state.replace('_', ' ')}, release {when}")
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
        click.echo(f"{plural(st.needs_reconnect, 'pledged account', verb='needs')} reconnecting")
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
        data = summary(session, campaign_or_fail(session, campaign), app.settings)
    if as_json:
        emit_json({"campaign": data["slug"], "page": data["page"], **data["rules"]})
        return
    click.echo(f"{data['slug']}: page {data['page']}")
    for line in data["rules_lines"]:
        click.echo(line)
    if not data["rules"]["warnings"]:
        click.echo("no rule is in the way of this release")


def _counts_line(c: controls.ReleaseCounts) -> str:
    if not c.total:
        return f"{c.slug}: {c.state.replace('_', ' ')}, {c.pledged} pledges; no posts written yet"
    return (
        f"{c.slug}: {c.state.replace('_', ' ')}; {c.sent} of {c.total} posts went out, "
        f"{c.pending} not started, {c.in_flight} in flight"
    )


@release.command("hold")
@click.argument("campaign")
@pass_app
def hold(app: AppContext, campaign: str) -> None:
    """Put CAMPAIGN's release on hold: pledging goes on, nothing is posted until `release
    resume`."""
    with app.runtime.sessions() as session:
        pc = campaign_or_fail(session, campaign)
        try:
            controls.hold(session, pc, actor=cli_actor(), now=utcnow())
        except controls.ControlError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{campaign}: release on hold; pledging stays open. Resume with `release resume`.")


@release.command("resume")
@click.argument("campaign")
@click.option("--release", "release_text", help="A new release time: 'YYYY-MM-DD HH:MM'.")
@click.option("--tz", help="Time zone of --release (default: the campaign's).")
@pass_app
def resume(app: AppContext, campaign: str, release_text: str | None, tz: str | None) -> None:
    """Take CAMPAIGN's release off hold, at its own time or a new --release time."""
    with app.runtime.sessions() as session:
        pc = campaign_or_fail(session, campaign)
        when = None
        if release_text:
            try:
                when = parse_time(release_text, zone(tz or pc.timezone))
            except TimeProblem as exc:
                raise click.BadParameter(str(exc), param_hint="--release") from None
        try:
            controls.resume(session, pc, actor=cli_actor(), now=utcnow(), release_at=when)
        except controls.ControlError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{campaign}: release resumed; it goes out {local(pc.release_at, pc.timezone)}")


@release.command("cancel")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def cancel(app: AppContext, campaign: str, yes: bool) -> None:
    """Cancel CAMPAIGN's release before it starts: nothing is posted, and supporters'
    emails and tokens are deleted."""
    with app.runtime.sessions() as session:
        pc = campaign_or_fail(session, campaign)
        c = controls.counts(session, pc)
        if not yes:
            click.confirm(
                f"{_counts_line(c)}. Cancel it: nothing will be posted and the {c.pledged} "
                "supporters' tokens are deleted?",
                abort=True,
            )
        try:
            pledged = controls.cancel(session, pc, actor=cli_actor(), now=utcnow())
        except controls.ControlError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{campaign}: release cancelled; nothing is posted from its {pledged} pledges")


@release.command("stop")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def stop(app: AppContext, campaign: str, yes: bool) -> None:
    """Stop CAMPAIGN's release in progress: posts not started are cancelled, posts in
    flight finish."""
    with app.runtime.sessions() as session:
        pc = campaign_or_fail(session, campaign)
        c = controls.counts(session, pc)
        if not yes:
            click.confirm(
                f"{_counts_line(c)}. Stop it: about {c.pending} posts would not go out?",
                abort=True,
            )
        try:
            done = controls.stop(session, pc, actor=cli_actor(), now=utcnow())
        except controls.ControlError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(
        f"{campaign}: release stopped: {done.sent} went out, {done.stopped} stopped, "
        f"{done.in_flight} in flight (they finish; see `release status {campaign}`)"
    )
