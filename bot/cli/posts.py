"""`posts` commands: queue one post from the command line, edit, list, show and cancel."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.campaigns import approvals, editing, embargo
from bot.campaigns.editing import Draft, PostExists, PostStarted, draft_of, texts_for
from bot.campaigns.enqueue import ApplyReport, StartedMeanwhile, find_post, platforms_of_targets
from bot.campaigns.schedules.fields import PLATFORM_ALIASES
from bot.campaigns.schedules.times import TimeProblem, parse_time, zone
from bot.campaigns.schedules.yaml_nodes import suggest
from bot.campaigns.specs import PLATFORMS, SpecError
from bot.campaigns.status import post_status
from bot.cli.context import AppContext, pass_app
from bot.cli.daemon import warn_without_daemon
from bot.cli.output import LIMIT, account_label, clip, emit_json, local, plural, table
from bot.people.audit import cli_actor
from bot.storage.models import Campaign, Delivery, Post, PostState

_IN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)\s*$", re.IGNORECASE)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
MAX_AHEAD = timedelta(days=400)
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def parse_in(raw: str) -> timedelta:
    match = _IN.match(raw)
    if not match:
        raise click.BadParameter(
            "use a number and a unit, e.g. 90s, 5m, 2h or 1d", param_hint="--in"
        )
    seconds = float(match.group(1)) * _UNIT[match.group(2).lower()]
    if seconds > MAX_AHEAD.total_seconds():
        raise click.BadParameter("at most 400 days ahead", param_hint="--in")
    return timedelta(seconds=seconds)


def post_json(post: Post, reader: embargo.Reader, now: datetime) -> dict[str, Any]:
    """The post for scripts; an embargoed text ``reader`` may not read yet is covered
    ("Embargoed statement, 12:00") and ``text_hidden`` says so."""
    hidden = not embargo.may_read(post, reader, now)
    return {
        "id": post.id,
        "campaign": post.campaign.slug,
        "key": post.key,
        "kind": post.kind,
        "status": str(post_status(post)),
        "scheduled_at": post.scheduled_at,
        "timezone": post.timezone,
        "targets": post.targets,
        "parts": embargo.covered_parts(post) if hidden else post.parts,
        "link": None if hidden else post.link,
        "hold_on_facebook": post.hold_on_facebook,
        "requires_approval": post.requires_approval,
        "embargoed": post.embargoed,
        "text_hidden": hidden,
        "source": post.source,
        "deliveries": [delivery_json(d) for d in post.deliveries],
    }


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "post_id": d.post_id,
        "platform": d.platform,
        "account": d.account.handle,
        "state": d.state,
        "due_at": d.due_at,
        "next_attempt_at": d.next_attempt_at,
        "attempts": d.attempts,
        "platform_ids": d.platform_ids,
        "url": d.url,
        "error": d.error,
        "error_kind": d.error_kind,
        "sending_at": d.sending_at,
        "sent_at": d.sent_at,
    }


# Other names people give the platforms on the command line, and what they mean.
TARGET_ALIASES = {
    **PLATFORM_ALIASES,
    "facebook page": "facebook",
    "fb page": "facebook",
    "page": "facebook",
    "twitter.com": "x",
    "x.com": "x",
}


def checked_targets(written: tuple[str, ...]) -> tuple[str, ...]:
    """--to values with the platform in lowercase ("X" is x); an unknown platform is
    refused with the one probably meant ("twitter": did you mean 'x'?)."""
    found = []
    for target in written:
        if "," in target:
            each = " ".join(f"--to {part.strip()}" for part in target.split(",") if part.strip())
            raise click.BadParameter(
                f"{target!r} names several targets: give one per --to, repeated ({each})",
                param_hint="--to",
            )
        platform, colon, handle = target.partition(":")
        name = platform.strip().lower()
        if name not in PLATFORMS:
            hint = suggest(platform.strip(), PLATFORMS, TARGET_ALIASES)
            raise click.BadParameter(
                f"unknown platform {platform.strip()!r}{hint} (platforms: "
                f"{', '.join(PLATFORMS)}; add ':@handle' for a named account, e.g. "
                "x:@union_branch)",
                param_hint="--to",
            )
        found.append(f"{name}{colon}{handle.strip()}")
    return tuple(found)


def cli_reader(show_embargoed: bool) -> embargo.Reader:
    """The CLI runs as the server's operator, but embargoed texts are covered unless
    asked for (--show-embargoed): a terminal is often shared or logged."""
    return embargo.Reader(cli_actor(), sees_all=show_embargoed)


SHOW_EMBARGOED = click.option(
    "--show-embargoed",
    is_flag=True,
    help="Show embargoed statements' text before their time (covered otherwise).",
)


def print_report(report: ApplyReport, *, dry_run: bool) -> None:
    """What applying did (or would do), one line per kind, counted in words."""
    for label, noun, items in (
        ("created", "post", report.created),
        ("updated", "post", report.updated),
        ("unchanged", "post", report.unchanged),
        ("kept as they are", "post", report.kept),
        ("skipped (already in the past)", "reminder", report.skipped),
    ):
        if items:
            counted = (
                f"{plural(len(items), noun)} would be"
                if dry_run
                else plural(len(items), noun, verb="was")
            )
            click.echo(f"{counted} {label}: {', '.join(items)}")
    for note in report.notes:
        click.echo(f"note: {note}")
    if dry_run:
        click.echo("dry run: nothing was stored")


@click.group()
def posts() -> None:
    """Queue, list, inspect and cancel posts."""


@posts.command("add")
@click.argument("text", nargs=-1, required=True)
@click.option(
    "--at", "at_text", metavar="'YYYY-MM-DD HH:MM'", help="When to post, in --tz (or TIMEZONE)."
)
@click.option("--in", "in_text", metavar="DURATION", help="Post after this long, e.g. 10m, 2h.")
@click.option("--now", is_flag=True, help="Post straight away (also allows a time just past).")
@click.option("--tz", "tz_name", help="Time zone of --at; default: the TIMEZONE setting.")
@click.option(
    "--to",
    "targets",
    multiple=True,
    default=("x", "facebook"),
    show_default=True,
    callback=lambda _ctx, _param, value: checked_targets(value),
    help="Where: x, facebook, bluesky, mastodon, or platform:@handle. Repeat for several.",
)
@click.option("--campaign", default="general", show_default=True, help="Campaign slug.")
@click.option("--id", "key", help="Stable id within the campaign (default: generated).")
@click.option(
    "--link",
    help="A link: appended on X (counts 23), attached on Facebook, a link card on Bluesky.",
)
@click.option("--text-x", help="Different wording for X.")
@click.option("--text-facebook", help="Different wording for Facebook.")
@click.option("--text-bluesky", help="Different wording for Bluesky (300 characters).")
@click.option("--text-mastodon", help="Different wording for Mastodon.")
@click.option(
    "--hold-on-facebook",
    is_flag=True,
    help="Hand the post to Facebook now and let Facebook publish it at the time.",
)
@click.option(
    "--requires-approval",
    is_flag=True,
    help="Not sent until an approver other than you approves it (posts approve).",
)
@click.option(
    "--embargoed",
    is_flag=True,
    help="Only you and approvers can read the text until its time.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored post as JSON.")
@pass_app
def add(
    app: AppContext,
    text: tuple[str, ...],
    at_text: str | None,
    in_text: str | None,
    now: bool,
    tz_name: str | None,
    targets: tuple[str, ...],
    campaign: str,
    key: str | None,
    link: str | None,
    text_x: str | None,
    text_facebook: str | None,
    text_bluesky: str | None,
    text_mastodon: str | None,
    hold_on_facebook: bool,
    requires_approval: bool,
    embargoed: bool,
    as_json: bool,
) -> None:
    """Queue TEXT. Several TEXT arguments make a thread: replies on X and Mastodon, one post
    on Facebook.

    \b
    Examples:
      python main.py posts add --at "2026-12-07 18:00" "Demo tomorrow 8:30 at Fujitsu HQ"
      python main.py posts add --in 5m --to x "1/ Ballot result:" "2/ 87% voted yes"
    """
    if sum(bool(x) for x in (at_text, in_text, now)) != 1:
        raise click.UsageError("say when: exactly one of --at, --in or --now")
    if not _SLUG.match(campaign):
        raise click.BadParameter(
            "lowercase letters, digits and hyphens, e.g. fujitsu-demo", param_hint="--campaign"
        )
    _check_link(link)
    tz_name = tz_name or app.settings.timezone
    moment = datetime.now(UTC)
    when = _when(at_text, in_text, now, tz_name, moment)
    draft = Draft(
        parts=texts_for(
            text,
            x=text_x,
            facebook=text_facebook,
            bluesky=text_bluesky,
            mastodon=text_mastodon,
            platforms=platforms_of_targets(targets),
            targets=targets,
        ),
        scheduled_at=when,
        timezone=tz_name,
        targets=targets,
        link=link,
        hold_on_facebook=hold_on_facebook,
        requires_approval=requires_approval,
        embargoed=embargoed,
    )
    key = key or editing.new_key("cli", moment)
    with app.runtime.sessions() as session:
        try:
            post = editing.create_post(
                session, campaign, key, draft, actor=cli_actor(), now=moment, allow_past=now
            )
        except (PostExists, SpecError, StartedMeanwhile) as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            emit_json(post_json(post, cli_reader(True), moment))
            return
        if post.requires_approval:
            click.echo(
                f"{campaign}/{key} (id {post.id}) awaits approval: it is not sent until an "
                f"approver other than you approves it (`python main.py posts approve {post.id}`)"
            )
            return
        click.echo(
            f"queued {campaign}/{key} (id {post.id}) for "
            f"{local(post.scheduled_at, post.timezone)} to "
            + ", ".join(
                f"{d.platform} {account_label(d.platform, d.account.handle)}"
                for d in post.deliveries
            )
        )
    warn_without_daemon(app)


def _check_link(link: str | None) -> None:
    if link is not None and not re.match(r"^https?://[^\s/]+\.[^\s]+$", link):
        raise click.BadParameter("a full web address starting with https://", param_hint="--link")


def _zone_named(tz_name: str) -> Any:
    try:
        return zone(tz_name)
    except TimeProblem as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None


def _when(
    at_text: str | None, in_text: str | None, now: bool, tz_name: str, moment: datetime
) -> datetime:
    """The time from exactly one of --at (in ``tz_name``), --in or --now."""
    tz = _zone_named(tz_name)
    if at_text:
        try:
            return parse_time(at_text, tz)
        except TimeProblem as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
    if in_text:
        return moment + parse_in(in_text)
    return moment


@posts.command("edit")
@click.argument("ref")
@click.option(
    "--text",
    "texts",
    multiple=True,
    help="New text for every platform; repeat for a thread (replies on X, one post on Facebook).",
)
@click.option("--text-x", help="New wording for X only (one post).")
@click.option("--text-facebook", help="New wording for Facebook only.")
@click.option("--text-mastodon", help="New wording for Mastodon only.")
@click.option(
    "--at", "at_text", metavar="'YYYY-MM-DD HH:MM'", help="New time, in --tz (or the post's zone)."
)
@click.option("--in", "in_text", metavar="DURATION", help="Post after this long, e.g. 10m, 2h.")
@click.option("--now", is_flag=True, help="Post straight away.")
@click.option("--tz", "tz_name", help="Time zone of --at; default: the post's own zone.")
@click.option(
    "--to",
    "targets",
    multiple=True,
    callback=lambda _ctx, _param, value: checked_targets(value),
    help="New targets, replacing the old: x, facebook, or platform:@handle. Repeat for several.",
)
@click.option("--link", help="New link: appended on X (counts 23), attached on Facebook.")
@click.option("--no-link", is_flag=True, help="Remove the link.")
@click.option(
    "--hold-on-facebook/--no-hold-on-facebook",
    default=None,
    help="Let Facebook publish it at the time (or stop asking Facebook to).",
)
@click.option(
    "--requires-approval/--no-approval",
    default=None,
    help="Require an approver's approval before it is sent (or no longer require it).",
)
@click.option(
    "--embargoed/--not-embargoed",
    default=None,
    help="Keep the text from all but you and approvers until its time (or stop).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changed post as JSON.")
@pass_app
def edit(
    app: AppContext,
    ref: str,
    texts: tuple[str, ...],
    text_x: str | None,
    text_facebook: str | None,
    text_mastodon: str | None,
    at_text: str | None,
    in_text: str | None,
    now: bool,
    tz_name: str | None,
    targets: tuple[str, ...],
    link: str | None,
    no_link: bool,
    hold_on_facebook: bool | None,
    requires_approval: bool | None,
    embargoed: bool | None,
    as_json: bool,
) -> None:
    """Change a post that has not started going out (by id or campaign/key).

    Only what you name changes. The same checks as `posts add`; if any of it is refused,
    or the daemon starts sending it meanwhile, nothing is changed.

    \b
    Examples:
      python main.py posts edit 12 --at "2026-12-07 18:30"
      python main.py posts edit fujitsu/demo-eve --text "Demo moved to 9am" --to x
    """
    if sum(bool(x) for x in (at_text, in_text, now)) > 1:
        raise click.UsageError("say when with at most one of --at, --in or --now")
    if link and no_link:
        raise click.UsageError("give --link or --no-link, not both")
    _check_link(link)
    moment = datetime.now(UTC)
    with app.runtime.sessions() as session:
        post = editing.load_post(session, ref)
        if post is None:
            raise click.ClickException(f"no post {ref!r}; see `python main.py posts list`")
        draft = draft_of(post)
        if texts or text_x or text_facebook or text_mastodon:
            parts = dict(draft.parts)
            if texts:
                parts = texts_for(
                    texts,
                    facebook=text_facebook,
                    platforms=platforms_of_targets(targets or draft.targets),
                    targets=targets or draft.targets,
                )
            if text_x:
                parts["x"] = (text_x,)
            if text_facebook:
                parts["facebook"] = (text_facebook,)
            if text_mastodon:
                parts["mastodon"] = (text_mastodon,)
            draft = replace(draft, parts=parts)
        if at_text or in_text or now or tz_name:
            tz = tz_name or draft.timezone
            when = (
                _when(at_text, in_text, now, tz, moment)
                if at_text or in_text or now
                else _local_again(draft.scheduled_at, draft.timezone, tz)
            )
            draft = replace(draft, scheduled_at=when, timezone=tz)
        if targets:
            draft = replace(draft, targets=targets)
        if link or no_link:
            draft = replace(draft, link=link)
        if hold_on_facebook is not None:
            draft = replace(draft, hold_on_facebook=hold_on_facebook)
        if requires_approval is not None:
            draft = replace(draft, requires_approval=requires_approval)
        if embargoed is not None:
            draft = replace(draft, embargoed=embargoed)
        try:
            result = editing.edit_post(
                session, post, draft, actor=cli_actor(), now=moment, allow_past=now
            )
        except (PostStarted, SpecError) as exc:
            raise click.ClickException(str(exc)) from None
        if as_json:
            emit_json(post_json(result.post, cli_reader(True), moment))
            return
        label = f"{result.post.campaign.slug}/{result.post.key}"
        if not result.changed:
            click.echo(f"{label} is unchanged: it already reads that way")
            return
        click.echo(
            f"changed {label} (id {result.post.id}): "
            f"{local(result.post.scheduled_at, result.post.timezone)} to "
            + ", ".join(
                f"{d.platform} {account_label(d.platform, d.account.handle)}"
                for d in result.post.deliveries
            )
        )
        if result.note:
            click.echo(f"note: {result.note}")
        if result.post.state == PostState.AWAITING_APPROVAL:
            click.echo(f"{label} awaits approval again: an approver must approve this version")


def _local_again(moment: datetime, old_zone: str, new_zone: str) -> datetime:
    """The same wall-clock time in another zone (--tz alone: "I meant 18:00 there")."""
    wall = moment.astimezone(_zone_named(old_zone)).replace(tzinfo=None)
    try:
        return parse_time(f"{wall:%Y-%m-%d %H:%M:%S}", _zone_named(new_zone))
    except TimeProblem as exc:
        raise click.BadParameter(str(exc), param_hint="--tz") from None


def _load_posts(session: Any, campaign: str | None, limit: int) -> list[Post]:
    query = (
        select(Post)
        .options(
            selectinload(Post.deliveries).selectinload(Delivery.account),
            selectinload(Post.campaign),
        )
        .order_by(Post.scheduled_at.desc())
        .limit(limit)
    )
    if campaign:
        query = query.join(Campaign).where(Campaign.slug == campaign)
    return list(session.scalars(query))


@posts.command("list")
@click.option("--campaign", help="Only this campaign.")
@click.option("--status", help="Only posts with this status (scheduled, sent, failed, ...).")
@click.option(
    "--limit", default=50, show_default=True, type=LIMIT, help="At most this many, newest first."
)
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@SHOW_EMBARGOED
@pass_app
def list_posts(
    app: AppContext,
    campaign: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    show_embargoed: bool,
) -> None:
    """List posts, latest scheduled time first."""
    reader, moment = cli_reader(show_embargoed), datetime.now(UTC)
    with app.runtime.sessions() as session:
        found = [
            p
            for p in _load_posts(session, campaign, limit)
            if status is None or post_status(p) == status
        ]
        if as_json:
            emit_json([post_json(p, reader, moment) for p in found])
            return
        table(
            (
                (
                    p.id,
                    f"{p.campaign.slug}/{p.key}",
                    local(p.scheduled_at, p.timezone),
                    post_status(p),
                    ",".join(sorted({d.platform for d in p.deliveries})),
                    clip(_first_text(p, reader, moment), 40),
                )
                for p in found
            ),
            ("id", "post", "when", "status", "to", "text"),
            empty="no posts yet: add one with `python main.py posts add` or `apply` a schedule",
        )


def _first_text(post: Post, reader: embargo.Reader, now: datetime) -> str:
    if not embargo.may_read(post, reader, now):
        return embargo.cover(post)
    return next(iter(post.parts.values()), [""])[0]


@posts.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@SHOW_EMBARGOED
@pass_app
def show(app: AppContext, ref: str, as_json: bool, show_embargoed: bool) -> None:
    """Show one post (by id or campaign/key) and each of its deliveries."""
    reader, moment = cli_reader(show_embargoed), datetime.now(UTC)
    with app.runtime.sessions() as session:
        post = find_post(session, ref)
        if post is None:
            raise click.ClickException(f"no post {ref!r}; see `python main.py posts list`")
        if as_json:
            emit_json(post_json(post, reader, moment))
            return
        hidden = not embargo.may_read(post, reader, moment)
        parts = embargo.covered_parts(post) if hidden else post.parts
        click.echo(f"{post.campaign.slug}/{post.key} (id {post.id}) — {post_status(post)}")
        click.echo(f"  when:   {local(post.scheduled_at, post.timezone)}")
        click.echo(f"  from:   {post.source}")
        if post.created_by:
            click.echo(f"  by:     {post.created_by}")
        if post.requires_approval:
            approver = approvals.approved_by(post)
            click.echo(f"  approval: {f'approved by {approver}' if approver else post.state}")
        if post.embargoed:
            more = " (--show-embargoed to read it)" if hidden else ""
            click.echo(f"  embargo: until {local(post.scheduled_at, post.timezone)}{more}")
        if post.link and not hidden:
            click.echo(f"  link:   {post.link}")
        for platform in PLATFORMS:
            for i, part in enumerate(parts.get(platform, ())):
                label = f"{platform} {i + 1}" if len(post.parts[platform]) > 1 else platform
                click.echo(f"  {label + ':':<11} {clip(part, 70)}")
        click.echo("")
        table(
            (
                (
                    d.id,
                    d.platform,
                    account_label(d.platform, d.account.handle),
                    d.state,
                    d.attempts,
                    local(d.sent_at or d.due_at, post.timezone),
                    d.url or d.error or "",
                )
                for d in post.deliveries
            ),
            ("delivery", "platform", "account", "state", "tries", "sent / due", "url or error"),
            empty="no deliveries",
        )


@posts.command("cancel")
@click.argument("ref")
@pass_app
def cancel(app: AppContext, ref: str) -> None:
    """Cancel a post (by id or campaign/key) wherever it has not gone out yet."""
    with app.runtime.sessions() as session:
        post = find_post(session, ref)
        if post is None:
            raise click.ClickException(f"no post {ref!r}; see `python main.py posts list`")
        result = editing.cancel(session, post, actor=cli_actor())
    click.echo(
        f"cancelled {result.cancelled} pending deliver"
        f"{'y' if result.cancelled == 1 else 'ies'} of {ref}"
    )
    if result.already_out:
        click.echo(
            f"{result.already_out} had already gone out or started; delete those on "
            "the platform if needed"
        )


def _decided(app: AppContext, ref: str) -> tuple[Any, Post]:
    session = app.runtime.sessions()
    post = editing.load_post(session, ref)
    if post is None:
        session.close()
        raise click.ClickException(f"no post {ref!r}; see `python main.py posts list`")
    return session, post


@posts.command("approve")
@click.argument("ref")
@pass_app
def approve(app: AppContext, ref: str) -> None:
    """Approve a post waiting for approval (by id or campaign/key): it goes out at its
    time. Its author cannot approve it; `cli:<your os user>` counts as you."""
    session, post = _decided(app, ref)
    with session:
        grace = timedelta(minutes=app.settings.missed_grace_minutes)
        try:
            approvals.approve(session, post, actor=cli_actor(), now=datetime.now(UTC), grace=grace)
        except approvals.ApprovalRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"approved {post.campaign.slug}/{post.key} (id {post.id}): it goes out "
            f"{local(post.scheduled_at, post.timezone)}"
        )


@posts.command("reject")
@click.argument("ref")
@click.option("--why", required=True, help="Why, for the author to put it right.")
@pass_app
def reject(app: AppContext, ref: str, why: str) -> None:
    """Reject a post waiting for approval (by id or campaign/key), saying why. It is not
    sent; an edit puts it back in the approvers' queue."""
    session, post = _decided(app, ref)
    with session:
        try:
            approvals.reject(session, post, actor=cli_actor(), reason=why)
        except approvals.ApprovalRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"rejected {post.campaign.slug}/{post.key} (id {post.id}): {why.strip()}")
