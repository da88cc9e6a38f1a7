"""Where a campaign's alerts go: event kinds, email addresses, one webhook.

The webhook URL and its signing secret are sealed by the vault: a Slack or Discord
webhook URL is a credential in itself (whoever has it can post). Only the URL's host is
ever shown; ``ChannelView`` is what pages, the CLI and logs may see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts.events import AlertKind, WebhookFormat
from bot.storage.models import AlertChannels, Campaign, utcnow
from bot.storage.vault import Vault

# One address: no spaces, no line breaks (it becomes a mail header), one @ with a dot
# after it. Deliberately loose: the mail server is the judge of the rest.
EMAIL = re.compile(r"^[^\s@,;<>\"]+@[^\s@,;<>\"]+\.[^\s@,;<>\"]+$")
MAX_EMAILS = 20


class ChannelSettingsError(ValueError):
    """A bad channel setting; ``field`` names it (the console shows it beside its input)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ChannelView:
    """A campaign's channel settings as safe to show: no URL path, no secret."""

    campaign_id: int
    events: tuple[AlertKind, ...]
    emails: tuple[str, ...]
    webhook_host: str
    webhook_format: WebhookFormat
    has_webhook: bool
    has_secret: bool
    updated_by: str
    updated_at: datetime | None

    @classmethod
    def empty(cls, campaign_id: int) -> ChannelView:
        return cls(
            campaign_id=campaign_id,
            events=AlertKind.subscribable(),
            emails=(),
            webhook_host="",
            webhook_format=WebhookFormat.CLARION,
            has_webhook=False,
            has_secret=False,
            updated_by="",
            updated_at=None,
        )

    def as_dict(self) -> dict[str, object]:
        """For the audit log and `--json`: nothing secret."""
        return {
            "events": [e.value for e in self.events],
            "emails": list(self.emails),
            "webhook_host": self.webhook_host,
            "webhook_format": self.webhook_format.value,
            "has_secret": self.has_secret,
        }


@dataclass(frozen=True)
class OpenChannels:
    """Opened for a send, in memory only; never logged."""

    campaign_id: int
    events: frozenset[AlertKind]
    emails: tuple[str, ...]
    webhook_url: str
    webhook_host: str
    webhook_format: WebhookFormat
    webhook_secret: str


def _kinds(values: list[str]) -> tuple[AlertKind, ...]:
    kinds = []
    for value in values:
        try:
            kinds.append(AlertKind(value))
        except ValueError:
            continue  # a kind from a newer version: ignored, not fatal
    return tuple(k for k in AlertKind.subscribable() if k in kinds)


def _view(row: AlertChannels) -> ChannelView:
    return ChannelView(
        campaign_id=row.campaign_id,
        events=_kinds(row.events or []),
        emails=tuple(row.emails or ()),
        webhook_host=row.webhook_host,
        webhook_format=WebhookFormat.parse(row.webhook_format),
        has_webhook=bool(row.webhook_url),
        has_secret=bool(row.webhook_secret),
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def read(session: Session, campaign_id: int) -> ChannelView:
    row = session.get(AlertChannels, campaign_id)
    return ChannelView.empty(campaign_id) if row is None else _view(row)


def open_channels(session: Session, vault: Vault, campaign_id: int) -> OpenChannels | None:
    row = session.get(AlertChannels, campaign_id)
    if row is None:
        return None
    return OpenChannels(
        campaign_id=row.campaign_id,
        events=frozenset(_kinds(row.events or [])),
        emails=tuple(row.emails or ()),
        webhook_url=vault.open_text(row.webhook_url) if row.webhook_url else "",
        webhook_host=row.webhook_host,
        webhook_format=WebhookFormat.parse(row.webhook_format),
        webhook_secret=vault.open_text(row.webhook_secret) if row.webhook_secret else "",
    )


def subscribed(session: Session, kind: AlertKind) -> list[int]:
    """Campaigns whose channels take ``kind``."""
    rows = session.execute(select(AlertChannels.campaign_id, AlertChannels.events)).all()
    return [campaign_id for campaign_id, events in rows if kind.value in (events or [])]


def parse_emails(values: list[str]) -> tuple[str, ...]:
    """Addresses given one per option or comma-separated; each checked."""
    found: list[str] = []
    for value in values:
        for part in re.split(r"[,\s;]+", value):
            if not part:
                continue
            if not EMAIL.match(part):
                raise ChannelSettingsError(
                    "emails", f"{part!r} is not an email address (write it as name@example.org)"
                )
            if part.lower() not in (f.lower() for f in found):
                found.append(part)
    if len(found) > MAX_EMAILS:
        raise ChannelSettingsError("emails", f"at most {MAX_EMAILS} addresses per campaign")
    return tuple(found)


def parse_webhook_url(url: str) -> tuple[str, str]:
    """(url, host to show) for an http(s) URL with a host."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChannelSettingsError(
            "webhook_url", "the webhook must be an http:// or https:// URL with a host"
        )
    if any(c.isspace() for c in url):
        raise ChannelSettingsError("webhook_url", "the webhook URL may not contain spaces")
    shown = parts.hostname + (f":{parts.port}" if parts.port else "")
    return url, shown


def parse_events(values: list[str]) -> tuple[AlertKind, ...]:
    try:
        kinds = {AlertKind.parse(v) for value in values for v in value.split(",") if v.strip()}
    except ValueError as exc:
        raise ChannelSettingsError("events", str(exc)) from None
    return tuple(k for k in AlertKind.subscribable() if k in kinds)


def update(
    session: Session,
    vault: Vault,
    campaign: Campaign,
    *,
    actor: str,
    events: tuple[AlertKind, ...] | None = None,
    emails: tuple[str, ...] | None = None,
    webhook_url: str | None = None,
    webhook_format: WebhookFormat | None = None,
    webhook_secret: str | None = None,
) -> ChannelView:
    """Change what is given (None: keep; "" for the URL or secret: remove). The caller
    commits. The ``clarion`` format is always signed, so it needs a secret."""
    row = session.get(AlertChannels, campaign.id)
    if row is None:
        row = AlertChannels(
            campaign_id=campaign.id,
            events=[k.value for k in AlertKind.subscribable()],
            emails=[],
            webhook_url="",
            webhook_host="",
            webhook_format=WebhookFormat.CLARION.value,
            webhook_secret="",
        )
        session.add(row)
    if events is not None:
        row.events = [k.value for k in events]
    if emails is not None:
        row.emails = list(emails)
    if webhook_url is not None:
        if webhook_url:
            url, host = parse_webhook_url(webhook_url)
            row.webhook_url, row.webhook_host = vault.seal_text(url), host
        else:
            row.webhook_url, row.webhook_host = "", ""
    if webhook_format is not None:
        row.webhook_format = webhook_format.value
    if webhook_secret is not None:
        row.webhook_secret = vault.seal_text(webhook_secret) if webhook_secret else ""
    if (
        row.webhook_url
        and not row.webhook_secret
        and row.webhook_format == WebhookFormat.CLARION.value
    ):
        raise ChannelSettingsError(
            "webhook_secret",
            "the clarion webhook format is signed: give a signing secret (at least 16 "
            "characters), or choose the slack, discord or matrix format",
        )
    if webhook_secret and len(webhook_secret) < 16:
        raise ChannelSettingsError(
            "webhook_secret", "the signing secret must be at least 16 characters"
        )
    row.updated_by = actor
    row.updated_at = utcnow()
    session.flush()
    return _view(row)
