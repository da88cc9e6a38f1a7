"""What one attempt at a delivery came to, as the deliverer and the dispatcher report it.

StrEnums, so an outcome compares equal to its word ("sent") and reads as it in logs and
counters. The delivery's stored state is ``DeliveryState`` (bot/storage/models.py); an
outcome says what this attempt did to it.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"  # every part is on the platform and recorded
    RETRY = "retry"  # a transient failure: pending again after a backoff
    DEFERRED = "deferred"  # a wait, not a try (rate limit, a Facebook hold too close)
    UNKNOWN = "unknown"  # it may be out: look on the platform before sending again
    FAILED = "failed"  # final: the platform refused, or we gave up
    MISSED = "missed"  # too late to send: not sent late
    CANCELLED = "cancelled"  # its post was cancelled before anything was sent
    LOST = "lost"  # another worker took the claim mid-send; the rest is theirs
    UNCLAIMED = "unclaimed"  # the daemon is stopping: given back unsent, not counted


class Check(StrEnum):
    """What looking for a part whose outcome was unknown found (when it settles it)."""

    FOUND = "found"  # already on the platform: recorded, not resent
    ABSENT = "absent"  # not there after the timeline settled: send it


class ErrorKind(StrEnum):
    """Why a delivery is not sent (yet), stored in ``Delivery.error_kind``. The platforms'
    error classes carry the same words as their ``kind`` (bot/platforms/base.py)."""

    TRANSIENT = "transient"  # it may work later: retried
    AUTH = "auth"  # the token was refused: the account needs reconnecting
    PERMANENT = "permanent"  # the platform refused this post
    UNKNOWN = "unknown"  # it may be out: looked for before any resend
    MISSED = "missed"  # its time passed while it could not be sent
