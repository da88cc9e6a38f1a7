"""Applying schedules: read every source, check it against the database, store it all or
nothing. `python main.py apply` and the console's schedule page both call
``apply_schedules``, so a file means the same thing wherever it is applied.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.campaigns import embargo
from bot.campaigns.editing import post_subject, snapshot
from bot.campaigns.enqueue import ApplyReport, apply_specs
from bot.campaigns.schedules.files import read_schedules
from bot.campaigns.schedules.sources import ScheduleSource
from bot.campaigns.specs import Location, PostSpec, Problem, SpecError
from bot.people import audit
from bot.pledges.campaigns import CampaignReport, apply_campaigns
from bot.storage.models import Campaign, Post

logger = logging.getLogger(__name__)

# A schedule of a few hundred posts is well under 100 KB. The limit keeps a pasted or
# uploaded file from tying up a web worker while it is parsed and checked, and keeps the
# console's confirmation form (which carries the text back) under the web forms' limit
# (bot.web.security.MAX_FORM_BYTES) even when every byte is percent-encoded.
MAX_SCHEDULE_BYTES = 200 * 1024


@dataclass(frozen=True)
class ScheduleOutcome:
    """What applying (or the dry run of) a set of schedules did, or would do."""

    posts: ApplyReport
    campaigns: CampaignReport
    post_count: int
    campaign_count: int
    dry_run: bool
    sources: tuple[str, ...] = field(default=())
    # Each post read, by its "campaign/id" label: what a page shows beside the label.
    specs: Mapping[str, PostSpec] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return self.posts.changed + len(self.campaigns.created) + len(self.campaigns.updated)

    def digest(self) -> str:
        """A fingerprint of what would change: the console applies only if applying
        finds exactly what its dry run showed."""
        plan = {
            "posts": [
                self.posts.created,
                self.posts.updated,
                self.posts.unchanged,
                self.posts.kept,
                self.posts.skipped,
            ],
            "campaigns": [
                self.campaigns.created,
                self.campaigns.updated,
                self.campaigns.unchanged,
                self.campaigns.kept,
            ],
        }
        return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def applied_summary(outcome: ScheduleOutcome) -> dict[str, list[str]]:
    """What an apply changed, for its audit row."""
    return {
        "created": outcome.posts.created,
        "updated": outcome.posts.updated,
        "pledge_campaigns_created": outcome.campaigns.created,
        "pledge_campaigns_updated": outcome.campaigns.updated,
    }


def text_digest(text: str) -> str:
    """The SHA-256 of a schedule's text, carried from the dry run to the apply."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_from_bytes(data: bytes, *, name: str, folder: Path | None = None) -> ScheduleSource:
    """An uploaded or pasted schedule; SpecError when it is too large or not UTF-8 text."""
    if len(data) > MAX_SCHEDULE_BYTES:
        raise SpecError(
            [
                Problem(
                    Location(name),
                    "file",
                    f"{len(data):,} bytes",
                    f"is larger than {MAX_SCHEDULE_BYTES // 1024} KB, the most Clarion reads "
                    "at once; split it into several files and apply them one by one",
                )
            ]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        reason = f"is not UTF-8 text ({error.reason}); save it as UTF-8"
        return ScheduleSource(name, unreadable=reason, folder=folder)
    return ScheduleSource(name, plain_lines(text), folder=folder)


def plain_lines(text: str) -> str:
    """``text`` with CRLF line ends as LF. Browsers send form fields with CRLF (HTML's
    form encoding converts line breaks); YAML reads both alike, and the text previewed
    and the text applied must hash the same."""
    return text.replace("\r\n", "\n")


def apply_schedules(
    session: Session,
    sources: Sequence[ScheduleSource],
    *,
    now: datetime,
    default_timezone: str,
    default_window: int,
    dry_run: bool,
    allow_past: bool = False,
    author: str | None = None,
    reader: embargo.Reader | None = None,
) -> ScheduleOutcome:
    """Check and store the posts and pledge campaigns of ``sources``, all or nothing.

    Raises SpecError with every problem (nothing stored) or StartedMeanwhile. On success
    the changes are in ``session`` but not committed, so the caller can add its audit
    row to the same transaction; a dry run leaves nothing behind (rolled back).
    ``author`` (a console user's email, or ``cli:<user>``) is kept on the posts created.
    ``reader``: who applies it, when they are not trusted with every post (a console
    editor): a post they may not read (another author's embargoed statement) or whose
    approval requirement the file would take off is refused, as the composer refuses it.
    """
    read = read_schedules(sources, default_timezone=default_timezone, now=now)
    specs, campaigns = read.posts, read.pledge_campaigns
    if reader is not None and not reader.sees_all:
        _check_reader(session, specs, reader, now)
    # One transaction for both: a file's posts and pledge campaigns go in together or
    # not at all.
    campaign_report = apply_campaigns(
        session,
        campaigns,
        now=now,
        dry_run=dry_run,
        commit=False,
        default_window=default_window,
    )
    labels = [f"{spec.campaign}/{spec.key}" for spec in specs]
    before = {} if dry_run or author is None else _snapshots(session, labels)
    report = apply_specs(
        session,
        specs,
        now=now,
        allow_past=allow_past,
        dry_run=dry_run,
        commit=False,
        actor=author,
    )
    if dry_run:
        session.rollback()
    elif author is not None:
        if report.created:
            _set_author(session, report.created, author)
        _audit_posts(session, report, before, author)
    logger.info(
        "%s %s posts and %s pledge campaigns from %s sources",
        "checked" if dry_run else "applied",
        len(specs),
        len(campaigns),
        len(sources),
    )
    return ScheduleOutcome(
        posts=report,
        campaigns=campaign_report,
        post_count=len(specs),
        campaign_count=len(campaigns),
        dry_run=dry_run,
        sources=tuple(source.name for source in sources),
        specs={f"{spec.campaign}/{spec.key}": spec for spec in specs},
    )


def _check_reader(
    session: Session, specs: Sequence[PostSpec], reader: embargo.Reader, now: datetime
) -> None:
    existing = _posts_by_label(session, [f"{spec.campaign}/{spec.key}" for spec in specs])
    problems: list[Problem] = []
    for spec in specs:
        post = existing.get(f"{spec.campaign}/{spec.key}")
        if post is None:
            continue
        if not embargo.may_read(post, reader, now):
            problems.append(
                Problem(
                    spec.where("id"),
                    "id",
                    spec.key,
                    "is an embargoed statement by someone else; only its author or an "
                    "approver can change it: give this post another id",
                )
            )
        elif post.requires_approval and not spec.requires_approval:
            problems.append(
                Problem(
                    spec.where("approval"),
                    "approval",
                    "not required",
                    "only an approver can take the approval requirement off a post: keep "
                    "`approval: required` on it, or ask an approver to apply this file",
                )
            )
    if problems:
        raise SpecError(problems)


def _posts_by_label(
    session: Session, labels: Sequence[str], *, fresh: bool = False
) -> dict[str, Post]:
    """The posts named ``campaign/key``; ``fresh``: re-read from the database (as
    session.refresh would, in a few queries instead of one per post)."""
    wanted = {tuple(label.split("/", 1)) for label in labels}
    found: dict[str, Post] = {}
    for campaign_id, slug in session.execute(select(Campaign.id, Campaign.slug)):
        keys = sorted(key for s, key in wanted if s == slug)
        for start in range(0, len(keys), 500):  # under SQLite's limit on parameters
            query = select(Post).where(
                Post.campaign_id == campaign_id, Post.key.in_(keys[start : start + 500])
            )
            for post in session.scalars(query.execution_options(populate_existing=fresh)):
                found[f"{slug}/{post.key}"] = post
    return found


def _snapshots(session: Session, labels: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What the posts a file names look like before it is applied (for their audit rows)."""
    return {label: snapshot(post) for label, post in _posts_by_label(session, labels).items()}


def _audit_posts(
    session: Session, report: ApplyReport, before: Mapping[str, dict[str, Any]], author: str
) -> None:
    """One audit row per post created or changed, with its before and after, so a post's
    page shows what a schedule file did to it as it shows the composer's edits."""
    session.flush()
    changed = [*report.created, *report.updated]
    audit.record_many(
        session,
        [
            audit.Entry(
                actor=author,
                action="post.edit" if label in before else "post.create",
                subject=post_subject(post),
                before=before.get(label),
                after=snapshot(post),
            )
            for label, post in _posts_by_label(session, changed, fresh=True).items()
        ],
    )


def _set_author(session: Session, labels: Sequence[str], author: str) -> None:
    wanted = {tuple(label.split("/", 1)) for label in labels}
    for campaign_id, slug in session.execute(select(Campaign.id, Campaign.slug)):
        keys = sorted(key for s, key in wanted if s == slug)
        for start in range(0, len(keys), 500):  # under SQLite's limit on parameters
            session.execute(
                update(Post)
                .where(Post.campaign_id == campaign_id, Post.key.in_(keys[start : start + 500]))
                .values(created_by=author)
                # "fetch": the posts in the session learn their author by id; the default
                # ("evaluate") tests every post in the session against every key.
                .execution_options(synchronize_session="fetch")
            )
