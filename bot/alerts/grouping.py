"""Grouping: a burst of events of one kind for one campaign becomes one alert.

Events wait (``alert_id`` NULL) until their group has been quiet for ``quiet`` or the
first of them is ``max_wait`` old, so 300 posts failing in a release make one message
("300 posts failed on X: token rejected (first: …)") within a minute, not 300.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.alerts.detection import platform_name
from bot.alerts.events import AlertKind
from bot.storage.models import Alert, AlertEvent, Campaign

logger = logging.getLogger(__name__)

EXAMPLES = 10  # detail lines in one message; the console's page lists them all


@dataclass(frozen=True)
class GroupWindow:
    quiet: timedelta
    max_wait: timedelta


def as_utc(value: datetime | str) -> datetime:
    # SQLite hands an aggregate (MIN, MAX) of a datetime column back as naive text.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _campaign_filter(campaign_id: int | None) -> Any:
    if campaign_id is None:
        return AlertEvent.campaign_id.is_(None)
    return AlertEvent.campaign_id == campaign_id


def console_link(base_url: str, alert_id: int) -> str:
    return f"{base_url.rstrip('/')}/console/alerts/{alert_id}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def title_for(
    kind: AlertKind,
    count: int,
    campaign: str | None,
    platforms: list[str],
    reasons: Counter[str],
    first_detail: str,
) -> str:
    where = f" on {_and(platforms)}" if platforms else ""
    who = f" for {campaign}" if campaign else ""
    why = ", ".join(
        f"{reason} ({n})" if len(reasons) > 1 else reason
        for reason, n in reasons.most_common()
        if reason
    )
    if kind is AlertKind.DELIVERY_FAILED:
        return f"{_plural(count, 'post', 'posts')} failed{where}{who}" + (f": {why}" if why else "")
    if kind is AlertKind.DELIVERY_MISSED:
        return f"{_plural(count, 'post was', 'posts were')} missed{where}{who}: not sent in time"
    if kind is AlertKind.ACCOUNT_NEEDS_RECONNECT:
        accounts = _plural(count, "account needs", "accounts need")
        return f"{accounts} reconnecting{where}{who}"
    if kind is AlertKind.APPROVAL_WAITING:
        waits = _plural(count, "post waits", "posts wait")
        return f"{waits} for approval{who} and {'is' if count == 1 else 'are'} due soon"
    if kind is AlertKind.DAEMON_STOPPED:
        return "The Clarion daemon has stopped: nothing is being posted"
    if kind is AlertKind.RELEASE_FINISHED:
        return f"The pledge release{who} has finished: {first_detail}"
    return f"Test alert{who}"


def compose_text(title: str, details: list[str], count: int) -> str:
    lines = [title + (f" (first: {details[0]})" if count > 1 and details else "")]
    if count > 1 or (details and details[0] not in title):
        lines.append("")
        lines += [f"- {d}" for d in details]
        if count > len(details):
            lines.append(f"- …and {count - len(details)} more")
    return "\n".join(lines)


def make_alert(
    session: Session,
    kind: AlertKind,
    campaign_id: int | None,
    *,
    upto: datetime,
    now: datetime,
    base_url: str,
) -> Alert | None:
    """Fold the group's events (detected by ``upto``) into one alert; None if another
    watcher took some of them first (its alert has them)."""
    where = (
        AlertEvent.alert_id.is_(None),
        AlertEvent.kind == kind.value,
        _campaign_filter(campaign_id),
        AlertEvent.detected_at <= upto,
    )
    count, first_at, last_at = session.execute(
        select(
            func.count(), func.min(AlertEvent.occurred_at), func.max(AlertEvent.occurred_at)
        ).where(*where)
    ).one()
    if not count:
        return None
    reasons: Counter[str] = Counter(
        dict(
            session.execute(
                select(AlertEvent.reason, func.count()).where(*where).group_by(AlertEvent.reason)
            ).all()
        )
    )
    platforms = sorted(
        {
            platform_name(p)
            for (p,) in session.execute(select(AlertEvent.platform).where(*where).distinct())
            if p
        }
    )
    details = list(
        session.scalars(
            select(AlertEvent.detail)
            .where(*where)
            .order_by(AlertEvent.occurred_at, AlertEvent.id)
            .limit(EXAMPLES)
        )
    )
    campaign = session.get(Campaign, campaign_id) if campaign_id is not None else None
    name = (campaign.title or campaign.slug) if campaign is not None else None
    title = title_for(kind, int(count), name, platforms, reasons, details[0] if details else "")
    alert = Alert(
        kind=kind.value,
        campaign_id=campaign_id,
        count=int(count),
        title=title,
        text=compose_text(title, details, int(count)),
        link="",
        first_at=as_utc(first_at),
        last_at=as_utc(last_at),
        created_at=now,
    )
    session.add(alert)
    session.flush()
    alert.link = console_link(base_url, alert.id)
    result = session.execute(update(AlertEvent).where(*where).values(alert_id=alert.id))
    taken = result.rowcount  # type: ignore[attr-defined]
    if taken != count:
        logger.info("another watcher grouped some %s events first; leaving them to it", kind.value)
        session.rollback()
        return None
    return alert


def ready_groups(
    session: Session, now: datetime, window: GroupWindow
) -> list[tuple[AlertKind, int | None, datetime]]:
    """(kind, campaign, last detected) of groups quiet for long enough or old enough."""
    rows = session.execute(
        select(
            AlertEvent.kind,
            AlertEvent.campaign_id,
            func.min(AlertEvent.detected_at),
            func.max(AlertEvent.detected_at),
        )
        .where(AlertEvent.alert_id.is_(None))
        .group_by(AlertEvent.kind, AlertEvent.campaign_id)
    ).all()
    ready = []
    for kind, campaign_id, first, last in rows:
        first, last = as_utc(first), as_utc(last)
        if now - last >= window.quiet or now - first >= window.max_wait:
            try:
                ready.append((AlertKind(kind), campaign_id, last))
            except ValueError:
                continue
    return ready


def test_alert(session: Session, campaign: Campaign, now: datetime, base_url: str) -> Alert:
    """A test alert for a campaign's channels (`alerts test`, the console's button)."""
    title = f"Test alert for {campaign.title or campaign.slug}"
    alert = Alert(
        kind=AlertKind.TEST.value,
        campaign_id=campaign.id,
        count=1,
        title=title,
        text=f"{title}: if you can read this, Clarion's alerts reach you here.",
        link="",
        first_at=now,
        last_at=now,
        created_at=now,
    )
    session.add(alert)
    session.flush()
    alert.link = console_link(base_url, alert.id)
    return alert
