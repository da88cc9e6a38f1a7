"""One word for where a post stands, read from its deliveries (the ledger rows)."""

from __future__ import annotations

from enum import StrEnum

from bot.storage.models import DeliveryState, Post, PostState


class PostStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting approval"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    RETRYING = "retrying"
    PARTLY_SENT = "partly sent"
    SENT = "sent"
    FAILED = "failed"
    MISSED = "missed"
    CANCELLED = "cancelled"
    NO_TARGETS = "no targets"


def post_status(post: Post) -> PostStatus:
    """The post's status from its deliveries."""
    if post.state == PostState.CANCELLED:
        return PostStatus.CANCELLED
    states = {d.state for d in post.deliveries}
    if not states:
        return PostStatus.NO_TARGETS
    if states == {DeliveryState.SENT}:
        return PostStatus.SENT
    if states <= {DeliveryState.PENDING}:
        if post.state == PostState.AWAITING_APPROVAL:
            return PostStatus.AWAITING_APPROVAL
        if post.state == PostState.REJECTED:
            return PostStatus.REJECTED
        return PostStatus.SCHEDULED
    if states & {DeliveryState.SENDING, DeliveryState.UNKNOWN}:
        return PostStatus.SENDING
    if DeliveryState.PENDING in states:
        return PostStatus.PARTLY_SENT if DeliveryState.SENT in states else PostStatus.RETRYING
    if states == {DeliveryState.MISSED}:
        return PostStatus.MISSED
    if DeliveryState.SENT in states:
        return PostStatus.PARTLY_SENT
    return PostStatus.FAILED
