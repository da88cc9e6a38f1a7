"""The kinds of alert, the states of a send, the channels and the webhook formats."""

from __future__ import annotations

from enum import StrEnum


class AlertKind(StrEnum):
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_MISSED = "delivery_missed"
    ACCOUNT_NEEDS_RECONNECT = "account_needs_reconnect"
    APPROVAL_WAITING = "approval_waiting"
    DAEMON_STOPPED = "daemon_stopped"
    RELEASE_FINISHED = "release_finished"
    TEST = "test"  # `alerts test` / the console's button: never detected, never grouped

    @property
    def label(self) -> str:
        return KIND_LABELS[self]

    @classmethod
    def subscribable(cls) -> tuple[AlertKind, ...]:
        """The kinds a campaign may choose to be told about."""
        return tuple(k for k in cls if k is not cls.TEST)

    @classmethod
    def parse(cls, value: str) -> AlertKind:
        try:
            kind = cls(value.strip().lower().replace("-", "_"))
        except ValueError:
            kind = None
        if kind is None or kind is cls.TEST:
            names = ", ".join(k.value for k in cls.subscribable())
            raise ValueError(f"unknown alert event {value!r}: expected one of {names}")
        return kind


KIND_LABELS = {
    AlertKind.DELIVERY_FAILED: "a post failed",
    AlertKind.DELIVERY_MISSED: "a post was missed",
    AlertKind.ACCOUNT_NEEDS_RECONNECT: "an account needs reconnecting",
    AlertKind.APPROVAL_WAITING: "an approval is waiting near its time",
    AlertKind.DAEMON_STOPPED: "the scheduler (daemon) stopped",
    AlertKind.RELEASE_FINISHED: "a pledge release finished",
    AlertKind.TEST: "test alert",
}


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class SendState(StrEnum):
    PENDING = "pending"  # waiting for its attempt (next_attempt_at)
    SENDING = "sending"  # claimed by a sender; a network call may be in flight
    SENT = "sent"
    UNDELIVERED = "undelivered"  # every attempt failed, or the channel refused for good


class WebhookFormat(StrEnum):
    CLARION = "clarion"  # our own JSON, signed (docs/alerts.md)
    SLACK = "slack"
    DISCORD = "discord"
    MATRIX = "matrix"

    @classmethod
    def parse(cls, value: str) -> WebhookFormat:
        try:
            return cls(value.strip().lower())
        except ValueError:
            names = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown webhook format {value!r}: expected one of {names}") from None
