"""The public campaign page: the message, progress towards the goal, time left, reach,
the Support buttons, and after the release what happened: posts published, failed and
still going per platform, the reach of the accounts whose post went out, and engagement
so far, all from ``bot.engagement.report.build`` (the numbers `report CAMPAIGN` shows)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.campaigns import previews as shown_as
from bot.engagement import report
from bot.platforms import PLATFORM_LABELS
from bot.pledges import pledging, release
from bot.storage.models import Campaign, PledgeCampaign, PledgeCampaignState
from bot.web.page_cache import CachedPage, PageCache, etag_matches
from bot.web.pages import SESSION_COOKIE, now_of, runtime_of
from bot.web.security import Refused

PLATFORM_NAMES = dict(PLATFORM_LABELS)
GOING_OUT = (
    PledgeCampaignState.RELEASING,
    PledgeCampaignState.RELEASED,
    PledgeCampaignState.STOPPING,
    PledgeCampaignState.STOPPED,
)
# What the page shows of engagement, in this order (the report has more: quotes,
# bookmarks, profile clicks). Names say what they are on both platforms.
SHOWN_METRICS = {
    "likes": "Likes and reactions",
    "reposts": "Reposts and shares",
    "replies": "Replies and comments",
    "views": "Views",
    "link_clicks": "Link clicks",
}
# A large release's report reads every snapshot row (a 10,000-post release: ~300,000 a
# round): reuse it for this long rather than rebuild it on every page view.
LARGE_RELEASE = 1000
LARGE_RELEASE_TTL_SECONDS = 30.0


@dataclass(frozen=True)
class OutcomeRow:
    """One platform (or the total): deliveries and the reach of those that went out."""

    name: str
    sent: int
    failed: int
    going: int
    reach: int
    metrics: dict[str, str]  # metric -> as shown ("1,234", "1,200 ± 80 (estimated)", …)


@dataclass(frozen=True)
class Outcome:
    platforms: list[OutcomeRow]
    total: OutcomeRow
    last_updated: datetime | None  # the newest snapshot; None: no engagement recorded yet
    estimated: bool  # some figure is an estimate from a sampled release


def shown(total: report.Total) -> str:
    """A metric as the page says it: unavailable is never 0; an estimate says so."""
    if total.value is None:
        return "not available"
    if not total.estimated:
        return f"{total.value:,}"
    low = total.value if total.low is None else total.low
    high = total.value if total.high is None else total.high
    margin = max(total.value - low, high - total.value)
    # A no-break space keeps "± 80" together where a narrow column wraps the figure.
    return f"{total.value:,} ±\u00a0{margin:,} (estimated)"


def _row(name: str, summary: report.PlatformSummary) -> OutcomeRow:
    return OutcomeRow(
        name,
        summary.sent,
        summary.failed,
        summary.going,
        summary.reach,
        {metric: shown(summary.metrics[metric]) for metric in SHOWN_METRICS},
    )


def outcome(session: Session, slug: str) -> Outcome:
    built = report.build(session, slug, top=0)
    rows = [_row(PLATFORM_NAMES.get(p, p), s) for p, s in built.platforms.items()]
    estimated = any(built.total.metrics[m].estimated for m in SHOWN_METRICS)
    return Outcome(rows, _row("Total", built.total), built.last_updated, estimated)


_cache: dict[tuple[str, str], tuple[float, Outcome]] = {}
_cache_lock = threading.Lock()


def cached_outcome(session: Session, slug: str, deliveries: int) -> Outcome:
    """``outcome``, rebuilt at most every LARGE_RELEASE_TTL_SECONDS for large releases
    (the page says when the numbers were last updated); always fresh for small ones."""
    if deliveries < LARGE_RELEASE:
        return outcome(session, slug)
    key = (str(session.get_bind().engine.url), slug)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < LARGE_RELEASE_TTL_SECONDS:
        return hit[1]
    fresh = outcome(session, slug)
    with _cache_lock:
        _cache[key] = (time.monotonic(), fresh)
    return fresh


@dataclass(frozen=True)
class ImageView:
    """The campaign's picture as the page and its share card show it. ``path`` carries
    the picture's hash, so a replaced picture gets a new address (and no stale cache)."""

    path: str
    alt: str
    width: int
    height: int
    media_type: str


def image_view(pc: PledgeCampaign) -> ImageView | None:
    if not pc.image_sha256 or not pc.image_type:
        return None
    return ImageView(
        path=f"/c/{pc.campaign.slug}/image?v={pc.image_sha256[:16]}",
        alt=pc.image_alt or "",
        width=pc.image_width or 0,
        height=pc.image_height or 0,
        media_type=pc.image_type,
    )


@dataclass(frozen=True)
class CampaignView:
    """Everything the page shows, read in one database session (plain values only)."""

    slug: str
    title: str
    description: str
    previews: dict[str, str]
    # The same texts as each platform shows them: on X a link is its display_url (no
    # scheme, cut with "…"), so the page does not promise a longer post than X prints.
    shown_previews: dict[str, tuple[shown_as.Segment, ...]]
    link: str | None
    progress: pledging.Progress
    release_local: datetime
    timezone: str
    state: str
    percent: int
    released: release.ReleaseStatus | None  # once the release has started
    taking_pledges: bool = False  # pledging.is_open: the one cut-off (release - PREPARE)
    outcome: Outcome | None = None  # once the release has started
    image: ImageView | None = None  # the page's picture and its share card's


def load_campaign(session: Session, slug: str) -> PledgeCampaign:
    pc = pledging.find_campaign(session, slug)
    if pc is None or pc.state == PledgeCampaignState.CANCELLED:
        raise Refused(404, "No such campaign", "Check the link you were given, or ask its sender.")
    return pc


def campaign_view(
    session: Session, slug: str, now: datetime, *, readiness_hours: float | None = None
) -> CampaignView:
    """``readiness_hours`` (READINESS_HOURS): once that window before the release has
    opened, only tokens verified inside it count towards the ready reach, as in
    ``pledges show``."""
    pc = load_campaign(session, slug)
    progress = pledging.progress(session, pc, now, readiness_hours=readiness_hours)
    previews = {p: pledging.preview(pc, p) for p in pc.message if p in PLATFORM_NAMES}
    percent = min(100, round(100 * progress.pledged / pc.goal)) if pc.goal else 100
    released = release.status(session, pc) if pc.state in GOING_OUT else None
    return CampaignView(
        slug=slug,
        title=pc.campaign.title or slug,
        description=pc.description,
        previews=previews,
        shown_previews={
            p: shown_as.segments(text, as_written=p != "x") for p, text in previews.items()
        },
        link=pc.link,
        progress=progress,
        release_local=pc.release_at.astimezone(ZoneInfo(pc.timezone)),
        timezone=pc.timezone,
        state=pc.state,
        percent=percent,
        released=released,
        taking_pledges=pledging.is_open(pc, now),
        outcome=cached_outcome(session, slug, released.total) if released else None,
        image=image_view(pc),
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


# How long a rendered page is reused (the numbers may be this much older, plus a rebuild),
# and what browsers and proxies are told: keep it a second, then reuse it a little longer
# while checking back (RFC 5861 stale-while-revalidate).
PAGE_CACHE_SECONDS = 1.0
PAGE_CACHE_CONTROL = "public, max-age=1, stale-while-revalidate=2"
# A request carrying our session cookie gets it refreshed by SessionMiddleware (Set-Cookie):
# such a response is for that browser only, never for a shared cache.
PAGE_CACHE_CONTROL_PRIVATE = "private, max-age=1"


def page_cache_of(request: Request) -> PageCache:
    cache: PageCache = request.app.state.page_cache
    return cache


def forget_page(request: Request, slug: str) -> None:
    """After a pledge or a withdrawal in this process: the next view counts it."""
    page_cache_of(request).forget(slug)


def render_page(request: Request, view: CampaignView, now: datetime) -> bytes:
    """The page's HTML, the same for every visitor: no request, session or CSRF token
    reaches the template (StrictUndefined would refuse a template that asked for one)."""
    runtime = runtime_of(request)
    settings = runtime.settings
    context: dict[str, Any] = {
        "base_url": request.app.state.base_url,
        "c": view,
        "platform_names": PLATFORM_NAMES,
        "metric_names": SHOWN_METRICS,
        "time_left": time_left(view.progress.seconds_left),
        "open": view.taking_pledges,
        "read_days": settings.pledge_token_read_days,
        # A rehearsal on an accelerated sandbox: say so beside the numbers.
        "clock_acceleration": settings.clock_acceleration,
        "updated_local": (
            view.outcome.last_updated.astimezone(ZoneInfo(view.timezone))
            if view.outcome and view.outcome.last_updated
            else None
        ),
    }
    template = request.app.state.templates.env.get_template("campaign.html")
    html: str = template.render(context)
    return html.encode()


def _page_headers(page: CachedPage, private: bool) -> dict[str, str]:
    return {
        "etag": page.etag,
        "cache-control": PAGE_CACHE_CONTROL_PRIVATE if private else PAGE_CACHE_CONTROL,
    }


class CachedPageShortcut:
    """ASGI middleware: an up-to-date cached campaign page goes straight out, before the
    session, routing and exception layers (most of a request's cost in a spike).
    Anything else (an old or missing page, a visitor with a session cookie, another
    path) goes on to the app, which renders and caches it as ``campaign_page`` does.
    Sits inside SecurityHeaders, so these responses carry the same headers as any."""

    def __init__(self, app: ASGIApp, *, cache: PageCache, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.cache = cache
        self.clock = clock
        self.cookie = SESSION_COOKIE.encode() + b"="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = self._page(scope) if scope["type"] == "http" else None
        if page is None:
            await self.app(scope, receive, send)
            return
        headers = _page_headers(page, private=False)
        request_headers = dict(scope["headers"])
        not_modified = etag_matches(
            request_headers.get(b"if-none-match", b"").decode("latin-1"), page.etag
        )
        if not_modified:
            response = Response(status_code=304, headers=headers)
        else:
            # uvicorn leaves the body out of an answer to HEAD itself
            response = Response(page.body, media_type="text/html; charset=utf-8", headers=headers)
        await response(scope, receive, send)

    def _page(self, scope: Scope) -> CachedPage | None:
        if scope["method"] not in ("GET", "HEAD"):
            return None
        path: str = scope["path"]
        slug = path[3:]
        if not path.startswith("/c/") or not slug or "/" in slug:
            return None
        for name, value in scope["headers"]:
            if name == b"cookie" and self.cookie in value:
                return None  # SessionMiddleware refreshes that cookie: the normal path
        return self.cache.fresh(slug, self.clock())


async def campaign_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    now = now_of(request)
    runtime = runtime_of(request)

    def build() -> bytes:
        with runtime.sessions() as session:
            view = campaign_view(
                session, slug, now, readiness_hours=runtime.settings.readiness_hours
            )
        return render_page(request, view, now)

    page = await page_cache_of(request).get(slug, now, build)
    headers = _page_headers(page, private=SESSION_COOKIE in request.cookies)
    if etag_matches(request.headers.get("if-none-match"), page.etag):
        return Response(status_code=304, headers=headers)
    return Response(page.body, media_type="text/html; charset=utf-8", headers=headers)


# Under its hashed address (?v=) the bytes never change, so caches may keep them a year;
# the bare address can point at a replaced picture, so caches check back after an hour.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=3600"


async def campaign_image(request: Request) -> Response:
    """The picture's bytes with the type sniffed when it was stored; ETag is its sha256,
    so a browser or a platform's card crawler revalidating gets 304 without the bytes."""
    slug = request.path_params["slug"]
    runtime = runtime_of(request)

    def read() -> tuple[bytes | None, str | None, str | None]:
        with runtime.sessions() as session:
            row = session.execute(
                select(
                    PledgeCampaign.image_data,
                    PledgeCampaign.image_type,
                    PledgeCampaign.image_sha256,
                )
                .join(Campaign)
                .where(Campaign.slug == slug, PledgeCampaign.state != PledgeCampaignState.CANCELLED)
            ).first()
            return (row[0], row[1], row[2]) if row else (None, None, None)

    data, media_type, sha256 = await run_in_threadpool(read)
    if data is None or media_type is None or sha256 is None:
        raise Refused(404, "No picture", "This campaign has no picture.")
    etag = f'"{sha256}"'
    version = request.query_params.get("v")
    headers = {
        "etag": etag,
        "cache-control": IMMUTABLE if version == sha256[:16] else REVALIDATE,
        "x-content-type-options": "nosniff",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


def routes() -> list[BaseRoute]:
    return [
        Route("/c/{slug}", campaign_page, methods=["GET"]),
        Route("/c/{slug}/image", campaign_image, methods=["GET"]),
    ]
