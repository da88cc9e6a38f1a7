"""Embargoed posts: the text is shown only to its author and to approvers until it goes
out; everyone else reads "Embargoed statement, 12:00" (its time in the campaign's zone).

Every place that shows a post's text to a person asks ``may_read`` (the console's pages,
the CLI's lists and JSON, exports, the audit trail on the post page). The embargo lifts
at the post's time once it is scheduled (approved, or needing no approval); a post that
was rejected, cancelled or never approved stays covered, since it was never published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.storage.models import Post, PostState

COVER = "Embargoed statement"


@dataclass(frozen=True)
class Reader:
    """Who is looking: ``who`` as the audit log names them (email, ``cli:<user>``) and
    whether they may read every embargoed text (approvers and admins; the CLI's
    ``--show-embargoed``)."""

    who: str
    sees_all: bool = False


def under_embargo(post: Post, now: datetime) -> bool:
    """Is the text still secret at ``now``?"""
    if not post.embargoed:
        return False
    return not (post.state == PostState.SCHEDULED and now >= post.scheduled_at)


def may_read(post: Post, reader: Reader, now: datetime) -> bool:
    if not under_embargo(post, now) or reader.sees_all:
        return True
    return bool(post.created_by) and post.created_by == reader.who


def cover(post: Post, zone: str | None = None) -> str:
    """What others read instead of the text: "Embargoed statement, 12:00" in ``zone``
    (default: the campaign's)."""
    name = zone or post.campaign.timezone
    return f"{COVER}, {post.scheduled_at.astimezone(ZoneInfo(name)):%H:%M}"


def covered_parts(post: Post, zone: str | None = None) -> dict[str, list[str]]:
    """The post's parts with every text replaced by the cover (as many parts as it has:
    that a thread exists is not the secret, its words are)."""
    return {platform: [cover(post, zone)] * len(texts) for platform, texts in post.parts.items()}


def covered_snapshot(values: dict[str, Any] | None, post: Post) -> dict[str, Any] | None:
    """An audit entry's before/after with the text and link covered."""
    if values is None:
        return None
    shown = dict(values)
    if "parts" in shown:
        shown["parts"] = covered_parts(post)
    if shown.get("link"):
        shown["link"] = COVER
    return shown
