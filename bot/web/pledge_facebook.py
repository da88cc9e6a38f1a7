"""Pledging Facebook Pages: Facebook Login, then the supporter picks which Page(s).

GET  /c/{slug}/pledge/facebook     the step before (bot.web.support)
POST /c/{slug}/pledge/facebook     (CSRF, rate-limited) -> Facebook's Login dialog
GET  /c/{slug}/facebook/callback   back with code + state (or error=access_denied)
GET  /c/{slug}/facebook/pages      the Pages they run, to pick from
POST /c/{slug}/facebook/pages      (CSRF, rate-limited) pledge the chosen Pages

The manual Login flow:
https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
``state`` guards against forged callbacks (stored server-side, used once, and tied to
this browser). Apps can publish only to Pages, never to personal profiles: publishing
needs a Page token with pages_manage_posts and pages_read_engagement
(https://developers.facebook.com/docs/pages-api/posts).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any, cast
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.platforms.base import AccountInfo, AuthError, Credentials, PlatformError
from bot.platforms.facebook import FacebookPlatform
from bot.pledges import oauth_requests, pledging
from bot.runtime.wiring import Runtime
from bot.web import signins
from bot.web.campaign import forget_page, load_campaign
from bot.web.pages import base_url, friendly, now_of, render, runtime_of
from bot.web.pledge_x import refuse_if_closed
from bot.web.security import Refused, checked_form, rate_limited

logger = logging.getLogger(__name__)

STATE_KEY = "fb_state"
PICK_KEY = "fb_pick"
# read_insights: the post's views (post insights) after the release, read with the Page
# token kept for engagement (https://developers.facebook.com/docs/graph-api/reference/insights).
SCOPES = ["pages_show_list", "pages_manage_posts", "pages_read_engagement", "read_insights"]
# Facebook's Page roles: only people who can create content may post as the Page.
CAN_POST = "CREATE_CONTENT"


def facebook_of(runtime: Runtime) -> FacebookPlatform:
    return cast(FacebookPlatform, runtime.platform("facebook"))


def _redirect_uri(request: Request, slug: str) -> str:
    return f"{base_url(request)}/c/{quote(slug)}/facebook/callback"


def _not_reachable(exc: PlatformError) -> Refused:
    logger.warning("Facebook Login failed: %s", exc.message)
    return Refused(
        503,
        "Facebook is not answering right now",
        "Nothing was pledged. Please go back and try again in a few minutes.",
    )


def pages_offered(runtime: Runtime, redirect_uri: str, code: str) -> list[dict[str, Any]]:
    """Facebook Login's ``code`` → the Pages the person runs: id, name, Page token,
    followers and whether they may post as it ("usable"). Raises AuthError or
    PlatformError. Three calls to Facebook: hold no database session across them."""
    settings = runtime.settings
    fb = facebook_of(runtime)
    app_id, app_secret = settings.facebook_app_id, settings.facebook_app_secret.reveal()
    short = fb.exchange_code(app_id, app_secret, redirect_uri, code)
    user_token = fb.long_lived(app_id, app_secret, short)
    pages = [p for p in fb.pages(user_token) if p.get("id") and p.get("name")]
    return [
        {
            "id": str(p["id"]),
            "name": str(p["name"]),
            "token": str(p.get("access_token") or ""),
            "followers": p.get("followers_count"),
            "usable": _usable(p),
        }
        for p in pages
    ]


def _usable(page: dict[str, Any]) -> bool:
    tasks = page.get("tasks")
    return bool(page.get("access_token")) and (not isinstance(tasks, list) or CAN_POST in tasks)


async def start(request: Request) -> Response:
    await checked_form(request)
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    state = secrets.token_urlsafe(32)
    redirect_uri = _redirect_uri(request, slug)

    def begin() -> str:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            refuse_if_closed(pc, now)
            if "facebook" not in pc.message:
                raise Refused(404, "This campaign does not post to Facebook", "")
            oauth_requests.remember(
                session,
                runtime.vault,
                provider="facebook",
                key=state,
                secret="",
                pledge_campaign_id=pc.id,
                now=now,
            )
        app_id = runtime.settings.facebook_app_id
        return facebook_of(runtime).login_url(app_id, redirect_uri, state, SCOPES)

    url = await run_in_threadpool(begin)
    request.session[STATE_KEY] = state
    return RedirectResponse(url, status_code=303)


async def callback(request: Request) -> Response:
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    state = query.get("state", "")
    if not signins.in_this_browser(request, STATE_KEY, state):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was pledged; "
            "please go back to the campaign page and press Support with a Facebook Page again.",
        )
    request.session.pop(STATE_KEY, None)
    code, cancelled = query.get("code", ""), "error" in query
    redirect_uri = _redirect_uri(request, slug)

    def finish() -> tuple[str, int]:
        # No database session is held across Facebook's three calls (see pledge_x.finish).
        with runtime.sessions() as session:
            pc_id = load_campaign(session, slug).id
            used = oauth_requests.claim(
                session,
                runtime.vault,
                provider="facebook",
                key=state,
                pledge_campaign_id=pc_id,
                now=now,
            )
            if used is None:
                raise Refused(
                    400,
                    "This sign-in link was already used",
                    "Each sign-in works once. Go back to the campaign page to start again.",
                )
        if cancelled:
            return "", 0
        if not code:
            raise Refused(400, "This sign-in link is not valid", "Facebook sent no code.")
        try:
            offered = pages_offered(runtime, redirect_uri, code)
        except AuthError:
            raise Refused(
                400,
                "Facebook did not confirm this sign-in",
                "Nothing was pledged. Please go back to the campaign and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable(exc) from None
        pick = secrets.token_urlsafe(32)
        # The Page tokens stay on the server, sealed, until the supporter picks; the pick
        # (oauth_requests.claim) blanks them.
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider="facebook_pages",
                key=pick,
                secret=json.dumps(offered),
                pledge_campaign_id=pc_id,
                now=now,
            )
        return pick, len(offered)

    pick, count = await run_in_threadpool(finish)
    if cancelled:
        return friendly(
            request,
            200,
            "You cancelled: nothing was pledged",
            "Facebook did not give Clarion access. You can go back to the campaign and "
            "pledge whenever you like.",
        )
    request.session[PICK_KEY] = pick
    return RedirectResponse(f"/c/{quote(slug)}/facebook/pages", status_code=303)


def _offered(request: Request, slug: str, *, use: bool) -> tuple[int, list[dict[str, Any]]]:
    """(pledge campaign id, Pages offered) for this browser's sign-in; ``use`` claims it."""
    runtime, now = runtime_of(request), now_of(request)
    key = request.session.get(PICK_KEY)
    with runtime.sessions() as session:
        pc_id = load_campaign(session, slug).id
        fetch = oauth_requests.claim if use else oauth_requests.peek
        raw = (
            fetch(
                session,
                runtime.vault,
                provider="facebook_pages",
                key=key,
                pledge_campaign_id=pc_id,
                now=now,
            )
            if isinstance(key, str)
            else None
        )
    if raw is None:
        raise Refused(
            400,
            "This choice has expired or was already made",
            "Go back to the campaign page and press Support with a Facebook Page again.",
        )
    pages: list[dict[str, Any]] = json.loads(raw)
    return pc_id, pages


async def pick_page(request: Request) -> Response:
    slug = request.path_params["slug"]
    _, pages = await run_in_threadpool(_offered, request, slug, use=False)
    shown = [{k: p[k] for k in ("id", "name", "followers", "usable")} for p in pages]
    return render(request, "facebook_pages.html", {"slug": slug, "pages": shown, "error": ""})


async def pledge_pages(request: Request) -> Response:
    fields = await checked_form(request)
    slug = request.path_params["slug"]
    chosen = set(fields.get("page", []))
    runtime = runtime_of(request)
    most = signins.MAX_PAGES_PER_PICK
    if not chosen or len(chosen) > most:
        # Nothing is pledged: beyond ``most`` a Page's private link could not be shown.
        _, pages = await run_in_threadpool(_offered, request, slug, use=False)
        shown = [{k: p[k] for k in ("id", "name", "followers", "usable")} for p in pages]
        error = (
            "Tick at least one Page to pledge."
            if not chosen
            else f"Tick at most {most} Pages at a time; pledge the others with a second "
            "sign-in from the campaign page."
        )
        return render(
            request,
            "facebook_pages.html",
            {"slug": slug, "pages": shown, "error": error},
            status=400,
        )

    def pledge() -> list[str]:
        _, pages = _offered(request, slug, use=True)
        out: list[str] = []
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            for page in pages:
                if page["id"] not in chosen or not page["usable"]:
                    continue
                creds = Credentials(token=page["token"], platform_user_id=page["id"])
                who = AccountInfo(page["id"], page["name"], page["name"], page["followers"])
                try:
                    receipt = pledging.add_pledge(
                        session, runtime.vault, pc, "facebook", creds, who, now=now_of(request)
                    )
                except pledging.PledgeError as exc:
                    if not out:
                        raise Refused(409, "Your pledge was not taken", str(exc)) from None
                    # Each Page's pledge is committed on its own: those already taken
                    # will post, so their private links must be shown, not a refusal.
                    logger.info(
                        "facebook pick: %s Pages pledged, the rest refused: %s", len(out), exc
                    )
                    break
                out.append(receipt.withdraw_secret)
        return out

    secrets_ = await run_in_threadpool(pledge)
    request.session.pop(PICK_KEY, None)
    if not secrets_:
        raise Refused(400, "None of those Pages can be pledged", "Pick a Page you can post to.")
    forget_page(request, slug)  # the campaign page counts these pledges on its next view
    return signins.after_pledge(request, slug, secrets_, now_of(request))


def routes() -> list[BaseRoute]:
    return [
        Route("/c/{slug}/pledge/facebook", rate_limited(start), methods=["POST"]),
        # Only the POSTs count against the limit (see pledge_x.routes).
        Route("/c/{slug}/facebook/callback", callback, methods=["GET"]),
        Route("/c/{slug}/facebook/pages", pick_page, methods=["GET"]),
        Route("/c/{slug}/facebook/pages", rate_limited(pledge_pages), methods=["POST"]),
    ]
