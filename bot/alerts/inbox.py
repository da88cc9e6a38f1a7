"""The inbox: alerts as the console and `alerts list` show them, with how each channel
fared. Nothing here is secret: a webhook is named by its host only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from bot.alerts.events import SendState
from bot.storage.models import Alert, AlertEvent, Campaign


@dataclass(frozen=True)
class SendStatus:
    channel: str
    target: str
    state: SendState
    attempts: int
    last_error: str
    sent_at: datetime | None


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    campaign: str | None
    timezone: str
    count: int
    title: str
    text: str
    link: str
    created_at: datetime
    sends: tuple[SendStatus, ...]

    @property
    def undelivered(self) -> bool:
        return any(s.state is SendState.UNDELIVERED for s in self.sends)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "campaign": self.campaign,
            "count": self.count,
            "title": self.title,
            "text": self.text,
            "link": self.link,
            "created_at": self.created_at,
            "sends": [
                {
                    "channel": s.channel,
                    "target": s.target,
                    "state": s.state.value,
                    "attempts": s.attempts,
                    "error": s.last_error,
                    "sent_at": s.sent_at,
                }
                for s in self.sends
            ],
        }


def _item(alert: Alert) -> InboxItem:
    return InboxItem(
        id=alert.id,
        kind=alert.kind,
        campaign=alert.campaign.slug if alert.campaign else None,
        timezone=alert.campaign.timezone if alert.campaign else "UTC",
        count=alert.count,
        title=alert.title,
        text=alert.text,
        link=alert.link,
        created_at=alert.created_at,
        sends=tuple(
            SendStatus(
                channel=s.channel,
                target=s.target,
                state=SendState(s.state),
                attempts=s.attempts,
                last_error=s.last_error,
                sent_at=s.sent_at,
            )
            for s in alert.sends
        ),
    )


def recent(session: Session, *, campaign: str | None = None, limit: int = 50) -> list[InboxItem]:
    """The newest alerts; for one campaign, its own and those for every campaign (the
    daemon stopped, the organisation's own account needs reconnecting)."""
    query = (
        select(Alert)
        .options(selectinload(Alert.sends), selectinload(Alert.campaign))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(limit)
    )
    if campaign:
        query = query.outerjoin(Campaign, Campaign.id == Alert.campaign_id).where(
            or_(Campaign.slug == campaign, Alert.campaign_id.is_(None))
        )
    return [_item(a) for a in session.scalars(query)]


def one(session: Session, alert_id: int) -> tuple[InboxItem, list[str]] | None:
    """An alert and every event it groups (their detail lines, oldest first)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    details = list(
        session.scalars(
            select(AlertEvent.detail)
            .where(AlertEvent.alert_id == alert_id)
            .order_by(AlertEvent.occurred_at, AlertEvent.id)
        )
    )
    return _item(alert), details
