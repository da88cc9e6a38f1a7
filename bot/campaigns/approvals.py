"""Two-person approval: a post that requires it is not due until someone other than its
author approves it.

The post's state says where it stands (``PostState.AWAITING_APPROVAL``, ``REJECTED``,
``SCHEDULED`` once approved). Its deliveries stay ``pending`` throughout: the delivery
engine claims only deliveries of *scheduled* posts (bot/delivery/statements.py), so a post
waiting for approval is skipped by the same condition that skips a cancelled one, with
no extra work on the hot claim query. Each step is a ``PostApproval`` row holding the
text as it stood then (the approver's diff is against the version they last decided on)
and an audit entry.

Still unapproved when its time is more than the grace (MISSED_GRACE_MINUTES) past, the
post's deliveries become ``missed`` (``Sweeps.mark_missed``), exactly as a post the
daemon was not running for; an approval after that is refused.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.people import audit
from bot.storage.models import (
    ApprovalStep,
    AuditEntry,
    DeliveryState,
    Post,
    PostApproval,
    PostState,
)

logger = logging.getLogger(__name__)

UNAPPROVED = PostState.UNAPPROVED
ACTIONS = {
    ApprovalStep.SUBMIT: "post.submit",
    ApprovalStep.APPROVE: "post.approve",
    ApprovalStep.REJECT: "post.reject",
    ApprovalStep.WITHDRAWN: "post.approval_withdrawn",
}


class ApprovalRefused(Exception):
    """The approval or rejection was refused; the message says why and what to do."""


def post_subject(post: Post) -> str:
    """How the audit log names a post (its trail on the post page is found by this)."""
    return f"post:{post.id}"


def version_of(post: Post) -> str:
    """A short fingerprint of what goes out and when: an approval names the version it
    approves, so a post changed while the approver read it is not approved unseen."""
    content = json.dumps(
        [post.parts, post.link, post.scheduled_at.isoformat(), sorted(post.targets)],
        sort_keys=True,
    )
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def record_step(
    session: Session, post: Post, step: ApprovalStep, *, actor: str, reason: str = ""
) -> None:
    """Write the step and its audit entry in the caller's transaction."""
    session.add(
        PostApproval(
            post_id=post.id,
            step=step,
            actor=actor,
            reason=reason,
            parts={p: list(t) for p, t in post.parts.items()},
        )
    )
    after: dict[str, Any] = {"state": post.state, "version": version_of(post)}
    if reason:
        after["reason"] = reason
    audit.record(
        session, actor=actor, action=ACTIONS[step], subject=post_subject(post), after=after
    )
    logger.info("post %s/%s: %s by %s", post.campaign.slug, post.key, step, actor)


def on_write(post: Post, *, requires: bool, is_new: bool) -> ApprovalStep | None:
    """The approval state a post takes when it is stored or changed (``enqueue`` calls
    this for every write): the step to record, if any.

    Any change to a post that requires approval puts it (back) in the queue: a change
    after approval withdraws the approval; a change after a rejection resubmits it."""
    post.requires_approval = requires
    if post.state == PostState.CANCELLED:
        return None
    if not requires:
        if post.state in UNAPPROVED:
            post.state = PostState.SCHEDULED
        return None
    had_approval = not is_new and approved_by(post) is not None
    post.state = PostState.AWAITING_APPROVAL
    return ApprovalStep.WITHDRAWN if had_approval else ApprovalStep.SUBMIT


def approved_by(post: Post) -> str | None:
    """Who approved the post as it stands, if anyone (the last step, when it is an
    approval of a post still scheduled)."""
    if post.state != PostState.SCHEDULED or not post.requires_approval:
        return None
    last = _last_step(post)
    return last.actor if last is not None and last.step == ApprovalStep.APPROVE else None


def _last_step(post: Post) -> PostApproval | None:
    session = Session.object_session(post)
    if session is None or post.id is None:
        return None
    return session.scalars(
        select(PostApproval)
        .where(PostApproval.post_id == post.id)
        .order_by(PostApproval.id.desc())
        .limit(1)
    ).first()


def _last_write(post: Post) -> PostApproval | None:
    """The step that put the post's current version in the queue (who wrote it)."""
    session = Session.object_session(post)
    if session is None or post.id is None:
        return None
    return session.scalars(
        select(PostApproval)
        .where(
            PostApproval.post_id == post.id,
            PostApproval.step.in_((ApprovalStep.SUBMIT, ApprovalStep.WITHDRAWN)),
        )
        .order_by(PostApproval.id.desc())
        .limit(1)
    ).first()


def _check_decider(post: Post, actor: str, verb: str) -> None:
    label = f"{post.campaign.slug}/{post.key}"
    if post.created_by and post.created_by == actor:
        raise ApprovalRefused(
            f"{label} was written by {actor}, and its author cannot {verb} it: a second "
            "person (an approver) must"
        )
    last = _last_write(post)
    if last is not None and last.actor == actor:
        # Whoever wrote this version (an edit by someone other than the author) is one
        # of the two people too: the other must be someone else, even after a third
        # person rejected it.
        raise ApprovalRefused(
            f"{label} was last changed by {actor}, and whoever changed it cannot {verb} "
            "that version: a second person (another approver) must"
        )
    if post.state == PostState.CANCELLED:
        raise ApprovalRefused(f"{label} was cancelled; there is nothing to {verb}")
    if not post.requires_approval:
        raise ApprovalRefused(f"{label} does not require approval; it goes out at its time")


def _too_late(post: Post, now: datetime, grace: timedelta) -> bool:
    return post.scheduled_at + grace < now or any(
        d.state == DeliveryState.MISSED for d in post.deliveries
    )


def approve(
    session: Session,
    post: Post,
    *,
    actor: str,
    now: datetime,
    grace: timedelta,
    version: str | None = None,
) -> None:
    """Approve ``post`` as ``actor`` (not its author), making it due at its time.

    ``version``: the ``version_of`` the approver saw; refused if the post changed since.
    Refused after its time plus the grace: by then it is reported as missed, and an
    approval must not send a statement late."""
    label = f"{post.campaign.slug}/{post.key}"
    _check_decider(post, actor, "approve")
    if post.state == PostState.SCHEDULED:
        raise ApprovalRefused(f"{label} is already approved (by {approved_by(post) or '?'})")
    if _too_late(post, now, grace):
        raise ApprovalRefused(
            f"{label} was due at {post.scheduled_at:%Y-%m-%d %H:%M} UTC, more than "
            f"{int(grace.total_seconds() // 60)} minutes ago, without an approval: it was "
            "missed and will not go out; write a new post to send it now"
        )
    if version is not None and version != version_of(post):
        raise ApprovalRefused(
            f"{label} was changed after you opened it; read the new version and decide again"
        )
    # Conditional: an edit committed since we read the post wins, and this is refused.
    won = session.execute(
        update(Post)
        .where(Post.id == post.id, Post.state.in_(UNAPPROVED), Post.updated_at == post.updated_at)
        .values(state=PostState.SCHEDULED, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        session.rollback()
        raise ApprovalRefused(
            f"{label} changed while it was being approved; read it again and decide again"
        )
    post.state = PostState.SCHEDULED
    record_step(session, post, ApprovalStep.APPROVE, actor=actor)
    session.commit()


def reject(session: Session, post: Post, *, actor: str, reason: str) -> None:
    """Reject ``post`` with a reason for its author; it stays unsent until edited (which
    puts it back in the queue) and approved."""
    label = f"{post.campaign.slug}/{post.key}"
    reason = " ".join(reason.split())
    if not reason:
        raise ApprovalRefused(
            f"say why {label} is rejected (--why on the command line, the reason field in "
            "the console): its author reads it to put the post right"
        )
    _check_decider(post, actor, "reject")
    if any(d.state != DeliveryState.PENDING or d.parts_done for d in post.deliveries):
        raise ApprovalRefused(f"{label} has started going out; cancel it instead")
    post.state = PostState.REJECTED
    session.flush()
    record_step(session, post, ApprovalStep.REJECT, actor=actor, reason=reason)
    session.commit()


def steps(session: Session, post: Post) -> list[PostApproval]:
    return list(
        session.scalars(
            select(PostApproval).where(PostApproval.post_id == post.id).order_by(PostApproval.id)
        )
    )


def last_seen(session: Session, post: Post, approver: str) -> PostApproval | None:
    """The version ``approver`` last decided on (approved or rejected), if any."""
    return session.scalars(
        select(PostApproval)
        .where(
            PostApproval.post_id == post.id,
            PostApproval.actor == approver,
            PostApproval.step.in_((ApprovalStep.APPROVE, ApprovalStep.REJECT)),
        )
        .order_by(PostApproval.id.desc())
        .limit(1)
    ).first()


def seen_version(session: Session, post: Post, approver: str) -> str | None:
    """The ``version_of`` the post had when ``approver`` last decided on it (from the
    decision's audit row): the steps keep the text only, and a change of time or
    accounts must not read as "unchanged"."""
    after = session.scalars(
        select(AuditEntry.after)
        .where(
            AuditEntry.subject == post_subject(post),
            AuditEntry.actor == approver,
            AuditEntry.action.in_((ACTIONS[ApprovalStep.APPROVE], ACTIONS[ApprovalStep.REJECT])),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).first()
    version = (after or {}).get("version")
    return version if isinstance(version, str) else None


def waiting(session: Session) -> list[Post]:
    """Posts waiting for a decision, soonest first."""
    return list(
        session.scalars(
            select(Post)
            .where(Post.state == PostState.AWAITING_APPROVAL)
            .order_by(Post.scheduled_at, Post.id)
        )
    )


class Change(StrEnum):
    SAME = "same"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class Piece:
    change: Change
    text: str


_WORDS = re.compile(r"\S+|\s+")


def word_diff(old: str, new: str) -> list[Piece]:
    """``new`` against ``old`` word by word: runs of kept, added and removed words."""
    a, b = _WORDS.findall(old), _WORDS.findall(new)
    pieces: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(Piece(Change.SAME, "".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            pieces.append(Piece(Change.REMOVED, "".join(a[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(Piece(Change.ADDED, "".join(b[j1:j2])))
    return [p for p in pieces if p.text]


def parts_diff(
    old: dict[str, list[str]] | None, new: dict[str, list[str]]
) -> dict[str, list[list[Piece]]]:
    """Per platform, per part: the word diff of the new text against the old one (a
    part that did not exist before is all added)."""
    old = old or {}
    result: dict[str, list[list[Piece]]] = {}
    for platform in sorted(set(old) | set(new)):
        before, after = old.get(platform, []), new.get(platform, [])
        rows = []
        for index in range(max(len(before), len(after))):
            was = before[index] if index < len(before) else ""
            now = after[index] if index < len(after) else ""
            rows.append(word_diff(was, now))
        result[platform] = rows
    return result


def diff_lines(old: dict[str, list[str]] | None, new: dict[str, list[str]]) -> list[str]:
    """The diff as plain text for a terminal: ``[-removed-]`` and ``{+added+}``, the
    notation of ``git diff --word-diff``."""
    lines = []
    for platform, rows in parts_diff(old, new).items():
        for index, pieces in enumerate(rows, 1):
            shown = "".join(
                p.text
                if p.change == Change.SAME
                else (f"[-{p.text}-]" if p.change == Change.REMOVED else f"{{+{p.text}+}}")
                for p in pieces
            )
            lines.append(f"{platform} {index}: {shown}")
    return lines
