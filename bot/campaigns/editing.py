"""Creating, changing and cancelling one post on someone's behalf (the CLI, the console).

Every change goes through ``enqueue.apply_specs``, the path `posts add` and schedule files
take, so a post is checked the same way wherever it is written: X's weighted length,
Facebook's length, accounts that exist, times that exist in the zone and lie ahead.
Deliveries are re-planned all-or-nothing with conditional writes: a delivery the daemon
claimed a moment ago is never changed, and the whole edit is refused instead.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.campaigns import text_rules
from bot.campaigns.approvals import post_subject
from bot.campaigns.enqueue import (
    CancelResult,
    StartedMeanwhile,
    apply_specs,
    cancel_post,
    find_post,
    platforms_of_targets,
    started,
)
from bot.campaigns.specs import PLATFORMS, Location, PostSpec, Problem, SpecError
from bot.people import audit
from bot.storage.models import Delivery, DeliveryState, Post, PostState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    """What a person wants a post to be, as they write it: the X parts without the link
    (it is added when stored, where it counts 23), Facebook's own text or the thread
    joined, the targets as in ``to:`` and an aware time in ``timezone``."""

    parts: dict[str, tuple[str, ...]]
    scheduled_at: datetime
    timezone: str
    targets: tuple[str, ...]
    link: str | None = None
    hold_on_facebook: bool = False
    requires_approval: bool = False
    embargoed: bool = False

    @property
    def kind(self) -> str:
        return "thread" if len(self.parts.get("x", ())) > 1 else "post"


def written_parts(post: Post) -> dict[str, tuple[str, ...]]:
    """The post's texts as its author wrote them: the link that storing added to the end
    of the first X part (``text_rules.x_text``) is taken off again."""
    parts = {platform: tuple(texts) for platform, texts in post.parts.items()}
    for platform in text_rules.LINK_IN_TEXT:
        own = parts.get(platform)
        if post.link and own and own[0].endswith(f"\n{post.link}"):
            parts[platform] = (own[0][: -len(post.link) - 1], *own[1:])
    return parts


def draft_of(post: Post) -> Draft:
    """The post as a Draft, to change a field or two of it."""
    return Draft(
        parts=written_parts(post),
        scheduled_at=post.scheduled_at,
        timezone=post.timezone,
        targets=tuple(post.targets),
        link=post.link,
        hold_on_facebook=post.hold_on_facebook,
        requires_approval=post.requires_approval,
        embargoed=post.embargoed,
    )


def texts_for(
    texts: tuple[str, ...],
    *,
    x: str | None = None,
    facebook: str | None = None,
    bluesky: str | None = None,
    mastodon: str | None = None,
    platforms: Collection[str] = (),
    targets: tuple[str, ...] = (),
) -> dict[str, tuple[str, ...]]:
    """Parts per platform as `posts add` makes them: several texts are a thread on X (on
    Bluesky when ``platforms`` has it, on Mastodon when ``targets`` post there) and one
    post on Facebook (numbering dropped); ``x``/``facebook``/``bluesky``/``mastodon`` are
    own wordings."""
    parts: dict[str, tuple[str, ...]] = {}
    x_parts = (x,) if x else texts
    if x_parts:
        parts["x"] = tuple(x_parts)
    mastodon_parts = (mastodon,) if mastodon else texts
    if mastodon_parts and (mastodon or "mastodon" in platforms_of_targets(targets)):
        parts["mastodon"] = tuple(mastodon_parts)
    facebook_text = facebook or (text_rules.join_thread(texts) if texts else "")
    if facebook_text:
        parts["facebook"] = (facebook_text,)
    if bluesky or "bluesky" in platforms:
        bluesky_parts = (bluesky,) if bluesky else texts
        if bluesky_parts:
            parts["bluesky"] = tuple(bluesky_parts)
    return parts


def link_problem(value: str) -> str | None:
    """None for a usable link, else what to write (the schedule files' words)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", value):
        example = f", e.g. https://{value}" if not parts.scheme and "." in value else ""
        return f"must be a web address starting with https://, with no spaces{example}"
    return None


def new_key(prefix: str, moment: datetime) -> str:
    """A key for a post written by hand: when, plus a few random characters."""
    return f"{prefix}-{moment:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def snapshot(post: Post) -> dict[str, Any]:
    """What an audit entry records of a post: its content and plan, nothing secret."""
    return {
        "parts": {p: list(t) for p, t in post.parts.items()},
        "scheduled_at": post.scheduled_at.isoformat(),
        "timezone": post.timezone,
        "targets": list(post.targets),
        "link": post.link,
        "hold_on_facebook": post.hold_on_facebook,
        "requires_approval": post.requires_approval,
        "embargoed": post.embargoed,
        "state": post.state,
    }


COMMAND_LINE = "<command line>"
CONSOLE = "<console>"


class PostExists(Exception):
    """A post with this campaign and key is already queued."""

    def __init__(self, label: str) -> None:
        super().__init__(
            f"{label} already exists; choose another id, or change it in its schedule file "
            f"and `apply` (see `python main.py posts show {label}`)"
        )


class PostStarted(Exception):
    """The post has started going out (or was cancelled), so it can no longer change."""

    def __init__(self, post: Post) -> None:
        label = f"{post.campaign.slug}/{post.key}"
        states = ", ".join(f"{d.platform}: {d.state}" for d in post.deliveries)
        cancelled = post.state == PostState.CANCELLED
        why = "was cancelled" if cancelled else f"has started going out ({states})"
        super().__init__(
            f"{label} {why}, so it can no longer be edited; see `python main.py posts show "
            f"{label}`, and write a new post for anything still to say"
        )
        self.post_id = post.id


@dataclass
class EditResult:
    post: Post
    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    note: str | None = None  # e.g. the post comes from a schedule file


def _spec(
    post_campaign: str,
    key: str,
    draft: Draft,
    *,
    kind: str,
    event: str | None,
    source: str = COMMAND_LINE,
) -> PostSpec:
    return PostSpec(
        campaign=post_campaign,
        key=key,
        scheduled_at=draft.scheduled_at,
        timezone=draft.timezone,
        targets=draft.targets,
        parts={p: draft.parts[p] for p in PLATFORMS if draft.parts.get(p)},
        link=draft.link,
        hold_on_facebook=draft.hold_on_facebook,
        requires_approval=draft.requires_approval,
        embargoed=draft.embargoed,
        source=Location(source),
        event=event,
        kind=kind,
    )


def load_post(session: Session, ref: str) -> Post | None:
    """A post by id or ``campaign/key``, its deliveries read afresh from the database."""
    found = find_post(session, ref)
    if found is None:
        return None
    return session.scalars(
        select(Post)
        .where(Post.id == found.id)
        .options(selectinload(Post.deliveries).selectinload(Delivery.account))
        .execution_options(populate_existing=True)
    ).one()


def check_draft(
    session: Session,
    campaign: str,
    key: str,
    draft: Draft,
    *,
    now: datetime,
    allow_past: bool = False,
    source: str = COMMAND_LINE,
) -> list[Problem]:
    """Every problem ``draft`` would be refused for, stored as ``campaign/key``; nothing is
    stored (a dry run of the same path as saving it)."""
    spec = _spec(campaign, key, draft, kind=draft.kind, event=None, source=source)
    try:
        apply_specs(session, [spec], now=now, allow_past=allow_past, dry_run=True)
    except SpecError as error:
        return error.problems
    return []


def create_post(
    session: Session,
    campaign: str,
    key: str,
    draft: Draft,
    *,
    actor: str,
    now: datetime,
    allow_past: bool = False,
    source: str = COMMAND_LINE,
) -> Post:
    """Queue a new post; SpecError (nothing stored) lists every problem with it.
    ``source`` is where it was written (the command line, the console)."""
    label = f"{campaign}/{key}"
    if find_post(session, label) is not None:
        raise PostExists(label)
    spec = _spec(campaign, key, draft, kind=draft.kind, event=None, source=source)
    apply_specs(session, [spec], now=now, allow_past=allow_past, commit=False, actor=actor)
    post = load_post(session, label)
    assert post is not None  # apply_specs created it in this transaction
    post.created_by = actor
    session.flush()
    audit.record(
        session, actor=actor, action="post.create", subject=post_subject(post), after=snapshot(post)
    )
    logger.info("post %s created by %s", label, actor)
    session.commit()
    return post


def edit_post(
    session: Session,
    post: Post,
    draft: Draft,
    *,
    actor: str,
    now: datetime,
    allow_past: bool = False,
) -> EditResult:
    """Change a pending post to ``draft``, all-or-nothing.

    Raises PostStarted if any delivery has left ``pending`` (checked again by conditional
    writes as the deliveries are re-planned), SpecError if the draft is refused.
    """
    fresh = load_post(session, str(post.id))
    assert fresh is not None
    post = fresh
    if started(post):
        raise PostStarted(post)
    before = snapshot(post)
    source = post.source
    kind = post.kind if post.kind == "reminder" else draft.kind
    spec = _spec(post.campaign.slug, post.key, draft, kind=kind, event=post.event_key)
    try:
        report = apply_specs(
            session, [spec], now=now, allow_past=allow_past, commit=False, actor=actor
        )
    except StartedMeanwhile:
        session.rollback()
        post = load_post(session, str(post.id)) or post
        raise PostStarted(post) from None
    if report.kept:  # claimed between our read and apply_specs' own
        session.rollback()
        raise PostStarted(post)
    post.source = source  # where it came from stays true; the audit log says who changed it
    session.flush()
    after = snapshot(post)
    changed = bool(report.updated)
    note = None
    if changed and not source.startswith("<"):
        note = (
            f"this post comes from {source}: applying that file again puts back the file's "
            "version, so change it there too"
        )
    if changed:
        audit.record(
            session,
            actor=actor,
            action="post.edit",
            subject=post_subject(post),
            before=before,
            after=after,
        )
        logger.info("post %s/%s edited by %s", post.campaign.slug, post.key, actor)
    session.commit()
    post = load_post(session, str(post.id)) or post  # the deliveries as re-planned
    return EditResult(post=post, changed=changed, before=before, after=after, note=note)


def cancel(session: Session, post: Post, *, actor: str) -> CancelResult:
    """Cancel what has not gone out yet (``enqueue.cancel_post``, which commits the audit
    entry with the cancel). With nothing waiting, nothing changes: a post that has all
    gone out keeps saying so rather than "cancelled", and no cancel is recorded."""
    if not any(d.state == DeliveryState.PENDING for d in post.deliveries):
        out = DeliveryState.SENDING, DeliveryState.UNKNOWN, DeliveryState.SENT
        already = sum(
            d.state in out or (d.state == DeliveryState.CANCELLED and d.parts_done > 0)
            for d in post.deliveries
        )
        return CancelResult(0, already)
    before = snapshot(post)
    audit.record(
        session,
        actor=actor,
        action="post.cancel",
        subject=post_subject(post),
        before=before,
        after={**before, "state": PostState.CANCELLED},
    )
    logger.info("post %s/%s cancelled by %s", post.campaign.slug, post.key, actor)
    return cancel_post(session, post)
