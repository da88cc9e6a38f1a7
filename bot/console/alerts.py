"""Alerts in the console: the inbox (viewers and up), one alert with every event it
groups, and each campaign's channel settings with a "Send test alert" button (admins).

The webhook URL and signing secret are write-only here: the form shows the webhook's
host and whether a secret is set, never the values; a blank field keeps what is stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bot.alerts import channel_settings, inbox
from bot.alerts.channel_settings import ChannelSettingsError, ChannelView
from bot.alerts.events import AlertKind, WebhookFormat
from bot.alerts.watcher import watcher_for
from bot.console.pages import (
    NavItem,
    flash,
    picked_campaign,
    read_form,
    render,
    runtime_of,
    see_other,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.people import audit
from bot.settings import ConfigError
from bot.storage.models import AlertChannels, Campaign
from bot.storage.vault import VaultError

logger = logging.getLogger(__name__)

# Which list of posts an alert of each kind is about (the posts page's state filter).
POSTS_STATE = {
    AlertKind.DELIVERY_FAILED.value: "failed",
    AlertKind.DELIVERY_MISSED.value: "missed",
}


async def inbox_page(request: Request) -> Response:
    """The inbox: the newest alerts, for the picked campaign or all."""
    campaign = picked_campaign(request) or None

    def load() -> list[inbox.InboxItem]:
        with runtime_of(request).sessions() as session:
            return inbox.recent(session, campaign=campaign, limit=100)

    items = await run_in_threadpool(load)
    is_admin = user_of(request).role.allows(Role.ADMIN)
    return render(
        request, "alerts.html", {"items": items, "campaign": campaign, "is_admin": is_admin}
    )


async def alert_page(request: Request) -> Response:
    alert_id = int(request.path_params["alert_id"])

    def load() -> tuple[inbox.InboxItem, list[str]] | None:
        with runtime_of(request).sessions() as session:
            return inbox.one(session, alert_id)

    found = await run_in_threadpool(load)
    if found is None:
        raise HTTPException(404)
    item, details = found
    posts_state = POSTS_STATE.get(item.kind)
    posts_link = (
        f"/console/posts?state={posts_state}"
        + (f"&campaign={item.campaign}" if item.campaign else "")
        if posts_state
        else ""
    )
    return render(
        request, "alerts_show.html", {"item": item, "details": details, "posts_link": posts_link}
    )


async def settings_list(request: Request) -> Response:
    """Every campaign and where its alerts go."""

    def load() -> list[tuple[Campaign, ChannelView]]:
        with runtime_of(request).sessions() as session:
            campaigns = list(session.scalars(select(Campaign).order_by(Campaign.slug)))
            return [(c, channel_settings.read(session, c.id)) for c in campaigns]

    rows = await run_in_threadpool(load)
    return render(
        request,
        "alerts_settings.html",
        {"rows": rows, "total": len(AlertKind.subscribable())},
    )


@dataclass(frozen=True)
class CampaignRef:
    """What the pages show of a campaign, kept after its session has closed."""

    slug: str
    title: str

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignRef:
        return cls(campaign.slug, campaign.title or campaign.slug)


def _campaign(session: Session, slug: str) -> Campaign:
    found = session.scalar(select(Campaign).where(Campaign.slug == slug))
    if found is None:
        raise HTTPException(404)
    return found


def _form_context(
    campaign: CampaignRef, view: ChannelView, errors: dict[str, str], emails_text: str | None = None
) -> dict[str, Any]:
    return {
        "campaign": campaign,
        "view": view,
        "errors": errors,
        "kinds": AlertKind.subscribable(),
        "formats": list(WebhookFormat),
        "emails_text": "\n".join(view.emails) if emails_text is None else emails_text,
    }


async def settings_page(request: Request) -> Response:
    slug = request.path_params["slug"]

    def load() -> tuple[CampaignRef, ChannelView]:
        with runtime_of(request).sessions() as session:
            campaign = _campaign(session, slug)
            return CampaignRef.of(campaign), channel_settings.read(session, campaign.id)

    campaign, view = await run_in_threadpool(load)
    return render(request, "alerts_edit.html", _form_context(campaign, view, {}))


async def settings_save(request: Request) -> Response:
    slug = request.path_params["slug"]
    form = await read_form(request)
    actor = user_of(request).email
    runtime = runtime_of(request)

    def save() -> tuple[CampaignRef, ChannelView, dict[str, str]]:
        with runtime.sessions() as session:
            campaign = _campaign(session, slug)
            ref = CampaignRef.of(campaign)
            before = channel_settings.read(session, campaign.id)
            errors: dict[str, str] = {}
            try:
                events = channel_settings.parse_events(form.all("events"))
                emails = channel_settings.parse_emails([form["emails"]])
                url = "" if form["remove_webhook"] else (form["webhook_url"].strip() or None)
                secret = "" if form["remove_secret"] else (form["webhook_secret"] or None)
                view = channel_settings.update(
                    session,
                    runtime.vault,
                    campaign,
                    actor=actor,
                    events=events,
                    emails=emails,
                    webhook_url=url,
                    webhook_format=WebhookFormat.parse(form["webhook_format"] or "clarion"),
                    webhook_secret=secret,
                )
            except ChannelSettingsError as exc:
                session.rollback()
                errors[exc.field] = exc.message
                return ref, before, errors
            except ValueError as exc:
                session.rollback()
                errors["webhook_format"] = str(exc)
                return ref, before, errors
            audit.record(
                session,
                actor=actor,
                action="alerts.settings",
                subject=f"campaign {campaign.slug}",
                before=before.as_dict(),
                after=view.as_dict(),
            )
            session.commit()
            return ref, view, {}

    try:
        campaign, view, errors = await run_in_threadpool(save)
    except (ConfigError, VaultError) as exc:
        return render(
            request,
            "message.html",
            {"title": "Alert settings cannot be stored", "text": str(exc)},
            status=503,
        )
    if errors:
        context = _form_context(campaign, view, errors, emails_text=form["emails"])
        return render(request, "alerts_edit.html", context, status=400)
    flash(request, f"Alert settings for {campaign.title} saved.")
    return see_other(f"/console/alerts/settings/{slug}")


async def send_test(request: Request) -> Response:
    slug = request.path_params["slug"]
    await read_form(request)
    actor = user_of(request).email
    runtime = runtime_of(request)

    def test() -> tuple[int, str]:
        with runtime.sessions() as session:
            campaign = _campaign(session, slug)
            has_channels = session.get(AlertChannels, campaign.id) is not None
            audit.record(
                session, actor=actor, action="alerts.test", subject=f"campaign {campaign.slug}"
            )
            session.commit()
        if not has_channels:
            return 0, "Set an email address or a webhook first, then send a test alert."
        alert_id, outcome = watcher_for(runtime).test(campaign)
        if outcome.retrying or outcome.undelivered:
            return alert_id, "The test alert did not reach every channel: see below."
        return alert_id, f"Test alert sent ({outcome.sent} channel(s))."

    try:
        alert_id, said = await run_in_threadpool(test)
    except (ConfigError, VaultError) as exc:
        return render(
            request,
            "message.html",
            {"title": "No test alert was sent", "text": str(exc)},
            status=503,
        )
    flash(request, said)
    if not alert_id:
        return see_other(f"/console/alerts/settings/{slug}")
    return see_other(f"/console/alerts/{alert_id}")


ROUTES: list[ConsoleRoute] = [
    route("/alerts", inbox_page, role=Role.VIEWER, name="alerts"),
    route("/alerts/settings", settings_list, role=Role.ADMIN, name="alerts_settings"),
    route("/alerts/settings/{slug}", settings_page, role=Role.ADMIN, name="alerts_edit"),
    route(
        "/alerts/settings/{slug}",
        settings_save,
        role=Role.ADMIN,
        methods=("POST",),
        name="alerts_save",
    ),
    route(
        "/alerts/settings/{slug}/test",
        send_test,
        role=Role.ADMIN,
        methods=("POST",),
        name="alerts_test",
    ),
    route("/alerts/{alert_id:int}", alert_page, role=Role.VIEWER, name="alerts_show"),
]

NAV = [NavItem("Alerts", "/alerts", Role.VIEWER)]
