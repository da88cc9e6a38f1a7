"""The public campaign page: the message, progress towards the goal, time left, reach,
the Support buttons, and after the release what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.db.models import PledgeCampaign, PledgeCampaignState
from bot.pledges import pledging, release
from bot.web.pages import now_of, render, runtime_of
from bot.web.security import Refused

PLATFORM_NAMES = {"x": "X", "facebook": "Facebook"}
GOING_OUT = (PledgeCampaignState.RELEASING, PledgeCampaignState.RELEASED)


@dataclass(frozen=True)
class CampaignView:
    """Everything the page shows, read in one database session (plain values only)."""

    slug: str
    title: str
    description: str
    previews: dict[str, str]
    link: str | None
    progress: pledging.Progress
    release_local: datetime
    timezone: str
    state: str
    percent: int
    released: release.ReleaseStatus | None  # once the release has started
    taking_pledges: bool = False  # pledging.is_open: the one cut-off (release - PREPARE)


def load_campaign(session: Session, slug: str) -> PledgeCampaign:
    pc = pledging.find_campaign(session, slug)
    if pc is None or pc.state == PledgeCampaignState.CANCELLED:
        raise Refused(404, "No such campaign", "Check the link you were given, or ask its sender.")
    return pc


def campaign_view(session: Session, slug: str, now: datetime) -> CampaignView:
    pc = load_campaign(session, slug)
    progress = pledging.progress(session, pc, now)
    previews = {p: pledging.preview(pc, p) for p in pc.message if p in PLATFORM_NAMES}
    percent = min(100, round(100 * progress.pledged / pc.goal)) if pc.goal else 100
    return CampaignView(
        slug=slug,
        title=pc.campaign.title or slug,
        description=pc.description,
        previews=previews,
        link=pc.link,
        progress=progress,
        release_local=pc.release_at.astimezone(ZoneInfo(pc.timezone)),
        timezone=pc.timezone,
        state=pc.state,
        percent=percent,
        released=release.status(session, pc) if pc.state in GOING_OUT else None,
        taking_pledges=pledging.is_open(pc, now),
    )


def time_left(seconds: float) -> str:
    """ "2 days, 3 hours" / "3 hours, 5 minutes" / "4 minutes": the countdown as text."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)

    def unit(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if days:
        return unit(days, "day") + (f", {unit(hours, 'hour')}" if hours else "")
    if hours:
        return unit(hours, "hour") + (f", {unit(mins, 'minute')}" if mins else "")
    if minutes:
        return unit(mins, "minute")
    return "less than a minute"


async def campaign_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    now = now_of(request)
    runtime = runtime_of(request)

    def read() -> CampaignView:
        with runtime.sessions() as session:
            return campaign_view(session, slug, now)

    view = await run_in_threadpool(read)
    context: dict[str, Any] = {
        "c": view,
        "platform_names": PLATFORM_NAMES,
        "time_left": time_left(view.progress.seconds_left),
        "open": view.taking_pledges,
    }
    return render(request, "campaign.html", context)


def routes() -> list[BaseRoute]:
    return [Route("/c/{slug}", campaign_page, methods=["GET"])]
