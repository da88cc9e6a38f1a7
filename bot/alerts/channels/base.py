"""What every channel shares: the message it is given and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class TransportError(Exception):
    """One attempt failed. ``permanent``: trying again cannot help (a 404, a refused
    address), so the send is marked undelivered at once. ``message`` is safe to store and
    show: it never holds the webhook URL, a secret or the receiver's reply body."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class AlertMessage:
    id: int
    kind: str
    campaign_slug: str | None
    campaign_title: str | None
    count: int
    title: str
    text: str
    link: str
    first_at: datetime
    last_at: datetime
    created_at: datetime
    examples: tuple[str, ...] = ()

    @property
    def test(self) -> bool:
        return self.kind == "test"
