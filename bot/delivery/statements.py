"""The delivery ledger's statements, built once with bind parameters.

Building SQLAlchemy expressions per call cost more CPU than the HTTP request (measured
with cProfile), so every statement the send path runs is built here, at import. Each
result write is "guarded": it applies only while the row is ``sending`` and claimed by
the writing worker, so a worker that lost its claim can never overwrite another's result.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ColumnElement, Update, bindparam, case, func, or_, select, true, update

from bot.delivery.outcomes import ErrorKind
from bot.storage.models import (
    Account,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostKind,
    PostState,
)

STATE = select(Delivery.state).where(Delivery.id == bindparam("did"))
POST_STATE = (
    select(Post.state)
    .join(Delivery, Delivery.post_id == Post.id)
    .where(Delivery.id == bindparam("did"))
)
# What a claim writes: sending, by whom and since when — before any network call.
CLAIMED = {
    "state": DeliveryState.SENDING,
    "claimed_by": bindparam("me"),
    "sending_at": bindparam("now"),
    "first_sending_at": func.coalesce(Delivery.first_sending_at, bindparam("now")),
    "attempts": Delivery.attempts + 1,
    "updated_at": bindparam("now"),
}
# As ``claim_due``: a pending delivery only while its post is scheduled (not cancelled,
# not waiting for approval); an unknown one always (it may be out: look first).
CLAIM = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("did"),
        Delivery.state == bindparam("from_state"),
        Delivery.next_attempt_at <= bindparam("now"),
        or_(
            Delivery.state == DeliveryState.UNKNOWN,
            select(Post.state).where(Post.id == Delivery.post_id).scalar_subquery()
            == PostState.SCHEDULED,
        ),
    )
    .values(CLAIMED)
)
_JOB_COLUMNS = (
    Delivery.id.label("delivery_id"),
    Delivery.platform,
    Delivery.parts_done,
    Delivery.platform_ids,
    Delivery.record_key,
    Delivery.attempts,
    Delivery.next_attempt_at.label("due_at"),
    Delivery.first_sending_at,
    Delivery.uncertain_since,
    Account.id.label("account_id"),
    Account.handle,
    Account.credentials,
    Post.parts,
    Post.link,
    Post.hold_on_facebook,
    Post.scheduled_at,
    Post.state.label("post_state"),
    Post.kind.label("post_kind"),
    Post.key,
    Post.id.label("post_id"),
    Campaign.slug,
    Campaign.id.label("campaign_id"),
)
_JOB_FROM = (
    select(*_JOB_COLUMNS)
    .join(Post, Delivery.post_id == Post.id)
    .join(Account, Delivery.account_id == Account.id)
    .join(Campaign, Post.campaign_id == Campaign.id)
)
JOB = _JOB_FROM.where(Delivery.id == bindparam("did"))
JOBS = _JOB_FROM.where(Delivery.id.in_(bindparam("ids", expanding=True)))


class Lane(StrEnum):
    """What one claim statement takes, in the order a claim round takes them: ordinary
    posts first (a demo reminder must not queue behind a release), then outcomes to look
    for, then a pledge release's posts, which fill whatever room is left."""

    ORDINARY = "ordinary"  # pending, of any post but a pledge release's
    UNKNOWN = "unknown"  # its last outcome is unknown: look on the platform first
    RELEASE = "release"  # pending, one supporter's post of a pledge release


def claim_due(lane: Lane) -> Update:
    """Claim up to ``:limit`` deliveries of ``lane`` that are due by ``:now``, oldest
    first, in one statement; RETURNING says which rows this worker won.

    The same rows ``Ledger.due`` reports: a pending delivery only while its post is still
    scheduled (so never one cancelled or waiting for approval); an unknown one even after
    a cancel (it may already be out: look first).
    The outer WHERE repeats the state and time so a row changed since the subquery read it
    (PostgreSQL re-checks it on the new version) is not taken.
    """
    from_state = DeliveryState.UNKNOWN if lane == Lane.UNKNOWN else DeliveryState.PENDING
    which: ColumnElement[bool]
    if lane == Lane.UNKNOWN:
        which = true()
    elif lane == Lane.RELEASE:
        which = (Post.state == PostState.SCHEDULED) & (Post.kind == PostKind.PLEDGE)
    else:
        # Only rows due after ``:since``: the index on (state, next_attempt_at) reads just
        # those, not the thousands of release rows due before them (``Ledger.claim_due``).
        which = (
            (Post.state == PostState.SCHEDULED)
            & (Post.kind != PostKind.PLEDGE)
            & (Delivery.next_attempt_at > bindparam("since"))
        )
    candidates = (
        select(Delivery.id)
        .join(Post, Delivery.post_id == Post.id)
        .where(Delivery.state == from_state, Delivery.next_attempt_at <= bindparam("now"), which)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(bindparam("limit"))
        .scalar_subquery()
    )
    return (
        update(Delivery)
        .where(
            Delivery.id.in_(candidates),
            Delivery.state == from_state,
            Delivery.next_attempt_at <= bindparam("now"),
        )
        .values(CLAIMED)
        .returning(Delivery.id)
    )


CLAIM_DUE = {lane: claim_due(lane) for lane in Lane}


def guarded(**values: Any) -> Update:
    """An UPDATE that only applies while the row is ``sending`` and claimed by ``me``."""
    return (
        update(Delivery)
        .where(
            Delivery.id == bindparam("did"),
            Delivery.state == DeliveryState.SENDING,
            Delivery.claimed_by == bindparam("me"),
        )
        .values(updated_at=bindparam("now"), **values)
    )


PART_DONE = guarded(
    parts_done=bindparam("parts"),
    platform_ids=bindparam("ids", type_=JSON),
    url=func.coalesce(Delivery.url, bindparam("url")),
)
SENT = guarded(
    state=DeliveryState.SENT,
    parts_done=bindparam("parts"),
    platform_ids=bindparam("ids", type_=JSON),
    url=func.coalesce(Delivery.url, bindparam("url")),
    sent_at=bindparam("now"),
    error=None,
    error_kind=None,
)
# A post cancelled while this attempt was in flight is not put back in the queue.
PENDING_UNLESS_CANCELLED = case(
    (
        select(Post.state).where(Post.id == Delivery.post_id).scalar_subquery()
        == PostState.CANCELLED,
        DeliveryState.CANCELLED,
    ),
    else_=DeliveryState.PENDING,
)
RETRY = guarded(
    state=PENDING_UNLESS_CANCELLED,
    next_attempt_at=bindparam("due"),
    error=bindparam("error"),
    error_kind=bindparam("kind"),
)
RETRY_UNCOUNTED = guarded(
    state=PENDING_UNLESS_CANCELLED,
    next_attempt_at=bindparam("due"),
    error=bindparam("error"),
    error_kind=bindparam("kind"),
    attempts=Delivery.attempts - 1,
)
# ``since``: when the request that may have posted was made (a post may take a while to
# show on the timeline, so its absence is trusted only settle_seconds after that).
UNKNOWN = guarded(
    state=DeliveryState.UNKNOWN,
    next_attempt_at=bindparam("due"),
    error=bindparam("error"),
    error_kind=ErrorKind.UNKNOWN,
    uncertain_since=bindparam("since"),
)
UNKNOWN_UNCOUNTED = guarded(
    state=DeliveryState.UNKNOWN,
    next_attempt_at=bindparam("due"),
    error=bindparam("error"),
    error_kind=ErrorKind.UNKNOWN,
    attempts=Delivery.attempts - 1,
    uncertain_since=bindparam("since"),
)
MISSED = guarded(state=DeliveryState.MISSED, error=bindparam("error"), error_kind=ErrorKind.MISSED)
FAILED = guarded(state=DeliveryState.FAILED, error=bindparam("error"), error_kind=bindparam("kind"))
CANCELLED_UNSENT = guarded(
    state=DeliveryState.CANCELLED, error="cancelled before it was sent", error_kind=None
)
CANCELLED = guarded(
    state=DeliveryState.CANCELLED,
    error="cancelled; the check found it had not gone out",
    error_kind=None,
)


# A claim given back before anything was sent (the daemon is stopping): the row returns
# to the state it was claimed from, and the claim does not count as an attempt.
UNCLAIM = guarded(state=bindparam("from_state"), attempts=Delivery.attempts - 1)
