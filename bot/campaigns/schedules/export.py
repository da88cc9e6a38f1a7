"""A campaign's pending posts written back as a schedule file.

The file applies back unchanged: every post written is read again with the same parser
`apply` uses and compared with what is stored, the way `apply` compares them, before it
is kept in the file. What cannot go into such a file is left out and named in the
file's opening comment: posts that have started going out or were cancelled (`apply`
never changes those, so leaving them out changes nothing), reminders (they come from
their event, which is written once in its own file) and the rare post a file cannot
express (a thread whose Facebook text is not the thread joined).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.campaigns import embargo, text_rules
from bot.campaigns.enqueue import platforms_of_targets, post_matches, started
from bot.campaigns.schedules.files import load_sources
from bot.campaigns.schedules.sources import ScheduleSource
from bot.campaigns.schedules.times import TimeProblem, parse_time
from bot.campaigns.specs import PLATFORMS, SpecError
from bot.storage.models import Campaign, Post, PostState

logger = logging.getLogger(__name__)


class LeftOut(StrEnum):
    """Why a post is not in the exported file."""

    CANCELLED = "cancelled"
    STARTED = "started"
    REMINDER = "reminder"
    NOT_EXPRESSIBLE = "not expressible"
    EMBARGOED = "embargoed"


WHY = {
    LeftOut.CANCELLED: "cancelled",
    LeftOut.STARTED: "has started going out (apply never changes it)",
    LeftOut.REMINDER: "a reminder of an event: apply the event's own file instead",
    LeftOut.NOT_EXPRESSIBLE: "cannot be written as a schedule file exactly",
    LeftOut.EMBARGOED: "an embargoed statement: only its author and approvers may read it "
    "before its time",
}


class UnknownCampaign(LookupError):
    def __init__(self, slug: str, known: list[str]) -> None:
        listed = ", ".join(known) if known else "none yet"
        super().__init__(f"no campaign {slug!r}; campaigns: {listed}")


@dataclass(frozen=True)
class Exported:
    """The file's text, the posts in it, and those left out (key, why)."""

    campaign: str
    text: str
    posts: tuple[str, ...]
    left_out: tuple[tuple[str, LeftOut], ...]
    rounded: tuple[str, ...]  # times with fractions of a second, written to the second


def export_campaign(
    session: Session, slug: str, *, reader: embargo.Reader, now: datetime | None = None
) -> Exported:
    """The pending posts of campaign ``slug`` as a schedule file (see the module doc).

    An embargoed post ``reader`` may not read yet is left out, not covered: a file with
    "Embargoed statement" in place of the text would overwrite the text when applied."""
    campaign = session.scalars(select(Campaign).where(Campaign.slug == slug)).first()
    if campaign is None:
        known = list(session.scalars(select(Campaign.slug).order_by(Campaign.slug)))
        raise UnknownCampaign(slug, known)
    posts = list(
        session.scalars(
            select(Post)
            .where(Post.campaign_id == campaign.id)
            .options(selectinload(Post.deliveries))
            .order_by(Post.scheduled_at, Post.id)
        )
    )
    zone_name = _file_zone(campaign, posts)
    entries: list[dict[str, Any] | None] = []
    kept: list[str] = []
    left_out: list[tuple[str, LeftOut]] = []
    rounded: list[str] = []
    moment = now or datetime.now(UTC)
    for post in posts:
        why = _left_out(post)
        if why is None and not embargo.may_read(post, reader, moment):
            why = LeftOut.EMBARGOED
        entry = _entry(post, zone_name) if why is None else None
        if why is None and (entry is None or not _reads_back(post, entry, slug, zone_name)):
            why = LeftOut.NOT_EXPRESSIBLE
        if why is not None:
            left_out.append((post.key, why))
            continue
        entries.append(entry)
        kept.append(post.key)
        if post.scheduled_at.microsecond:
            rounded.append(post.key)
    text = _header(slug, kept, left_out, rounded, moment) + _dump(
        {"campaign": slug, "timezone": zone_name, "posts": entries}
    )
    logger.info("exported %s posts of %s (%s left out)", len(kept), slug, len(left_out))
    return Exported(slug, text, tuple(kept), tuple(left_out), tuple(rounded))


def _left_out(post: Post) -> LeftOut | None:
    if post.state == PostState.CANCELLED:
        return LeftOut.CANCELLED
    if started(post):
        return LeftOut.STARTED
    if post.kind == "reminder" or post.event_key:
        return LeftOut.REMINDER
    return None


def _file_zone(campaign: Campaign, posts: list[Post]) -> str:
    """The zone most posts are written in (each other post names its own)."""
    counts = Counter(post.timezone for post in posts if post.state != PostState.CANCELLED)
    return counts.most_common(1)[0][0] if counts else campaign.timezone


def _entry(post: Post, zone_name: str) -> dict[str, Any] | None:
    """The post as a schedule file writes it; None when the format cannot express it."""
    wanted = [p for p in PLATFORMS if p in platforms_of_targets(post.targets)]
    texts: dict[str, list[str]] = {p: list(post.parts.get(p, [])) for p in wanted}
    for platform in text_rules.LINK_IN_TEXT:
        if texts.get(platform):
            # Stored texts of the platforms whose link goes in the text (X, Mastodon) carry
            # it in part 1 (enqueue.stored_parts): write the text as the volunteer did, and
            # `link:` once.
            texts[platform][0] = _without_link(texts[platform][0], post.link)
    entry: dict[str, Any] = {"id": post.key, "at": _at(post, zone_name)}
    if post.timezone != zone_name:
        entry["timezone"] = post.timezone
    entry["to"] = _Flow(post.targets)
    # Facebook gets a thread joined into one post; every other platform part by part.
    threaded = [p for p in wanted if p != "facebook" and len(texts[p]) > 1]
    if threaded:
        thread = texts[threaded[0]]
        if any(texts[p] != thread for p in wanted if p != "facebook"):
            return None  # a file writes one thread for every platform
        if "facebook" in wanted and texts["facebook"] != [text_rules.join_thread(thread)]:
            return None
        entry["thread"] = thread
    elif wanted:
        single = {p: (texts[p] or [""])[0] for p in wanted}
        different = len(set(single.values())) > 1
        entry["text"] = single if different else single[wanted[0]]
    else:
        return None
    if post.link:
        entry["link"] = post.link
    if post.hold_on_facebook:
        entry["facebook"] = {"hold": True}
    if post.requires_approval:
        entry["approval"] = "required"
    if post.embargoed:
        entry["embargo"] = True
    return entry


def _without_link(text: str, link: str | None) -> str:
    """The text before ``text_rules.x_text`` appended ``link``."""
    suffix = f"\n{link}"
    if link and text.endswith(suffix):
        bare = text[: -len(suffix)]
        if text_rules.x_text(bare, link) == text:
            return bare
    return text


def _at(post: Post, zone_name: str) -> str:
    """The time as written in a file: local wall-clock time in the post's zone, with the
    offset only where the clocks go back and that time happens twice."""
    tz = ZoneInfo(post.timezone)
    moment = post.scheduled_at.replace(microsecond=0)
    local = moment.astimezone(tz)
    written = f"{local:%Y-%m-%d %H:%M}" + (f":{local.second:02d}" if local.second else "")
    try:
        if parse_time(written, tz) == moment:
            return written
    except TimeProblem:
        pass
    offset = local.strftime("%z")
    return f"{written} {offset[:3]}:{offset[3:]}"


def _reads_back(post: Post, entry: dict[str, Any], slug: str, zone_name: str) -> bool:
    """Does the entry, read by the schedule parser, store exactly this post?"""
    text = _dump({"campaign": slug, "timezone": zone_name, "posts": [entry]})
    try:
        [spec] = load_sources([ScheduleSource("<export>", text)], default_timezone=zone_name)
    except SpecError as error:
        logger.warning("post %s/%s cannot be exported: %s", slug, post.key, error)
        return False
    if spec.scheduled_at != post.scheduled_at.replace(microsecond=0):
        return False
    # A time with fractions of a second is written to the second (named in the header).
    return post_matches(post, replace(spec, scheduled_at=post.scheduled_at))


def _header(
    slug: str,
    kept: list[str],
    left_out: list[tuple[str, LeftOut]],
    rounded: list[str],
    now: datetime,
) -> str:
    lines = [
        f"# The pending posts of campaign {slug}, exported by Clarion on "
        f"{now.astimezone(UTC):%Y-%m-%d %H:%M} UTC.",
        "# Applying this file again changes nothing; edit it and apply it to change posts.",
    ]
    if not kept:
        lines.append("# There are no pending posts to export.")
    if left_out:
        lines.append(f"# Left out ({len(left_out)}):")
        lines.extend(f"#   {key}: {WHY[why]}" for key, why in left_out)
    if rounded:
        lines.append(
            "# Written to the second (queued with fractions of a second; applying moves them "
            "by less than a second): " + ", ".join(rounded)
        )
    return "\n".join(lines) + "\n"


class _Dumper(yaml.SafeDumper):
    """Texts over several lines as '|' blocks, which read as they will be posted."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


class _Flow(list[str]):
    """A short list written on one line, as volunteers write `to: [x, facebook]`."""


def _flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.SequenceNode:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(_Flow, _flow)


def _dump(document: dict[str, Any]) -> str:
    """The file, with a blank line between posts so each reads as a block."""
    posts = document.get("posts", [])
    head = {key: value for key, value in document.items() if key != "posts"}
    chunks = [_yaml(head), "posts:\n" if posts else "posts: []\n"]
    chunks.append("\n".join(_yaml([post]) for post in posts))
    return "".join(chunks)


def _yaml(value: Any) -> str:
    # PyYAML falls back from '|' to a quoted string wherever a block cannot hold the
    # text exactly (trailing spaces, leading blank lines), so the text is never changed.
    return yaml.dump(
        value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=10_000, indent=2
    )
