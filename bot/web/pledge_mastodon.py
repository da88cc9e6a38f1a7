"""Pledging a Mastodon account: the supporter names their server (any instance), signs in
there, and comes back pledged.

GET  /c/{slug}/pledge/mastodon     the step before, with the server field (bot.web.support)
POST /c/{slug}/pledge/mastodon     (CSRF, rate-limited) -> the server's authorize page
GET  /c/{slug}/mastodon/callback   back with code + state (or error=access_denied)

OAuth 2 authorization code flow (https://docs.joinmastodon.org/client/authorized/):
Clarion registers itself as an app on the server the first time anyone signs in from it
(``bot.campaigns.mastodon_signin``) and asks only to post and read statuses and to read
who the account is. ``state`` guards against forged callbacks (stored server-side with the
server name sealed, used once, and tied to this browser).
"""

from __future__ import annotations

import logging
import secrets
from typing import cast
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.campaigns import mastodon_signin
from bot.platforms.base import AuthError, PlatformError
from bot.platforms.mastodon import MastodonPlatform, instance_url
from bot.pledges import oauth_requests, pledging
from bot.runtime.wiring import Runtime
from bot.web import signins
from bot.web.campaign import forget_page, load_campaign
from bot.web.pages import base_url, friendly, now_of, runtime_of
from bot.web.pledge_x import refuse_if_closed
from bot.web.security import Refused, checked_form, rate_limited

logger = logging.getLogger(__name__)

STATE_KEY = "md_state"
PROVIDER = "mastodon"


def mastodon_of(runtime: Runtime) -> MastodonPlatform:
    return cast(MastodonPlatform, runtime.platform("mastodon"))


def _redirect_uri(request: Request, slug: str) -> str:
    return f"{base_url(request)}/c/{quote(slug)}/mastodon/callback"


def _not_reachable(server: str, exc: PlatformError) -> Refused:
    logger.warning("Mastodon sign-in on %s failed: %s", server, exc.message)
    return Refused(
        503,
        f"{server} is not answering right now",
        "Nothing was pledged. Check the server's name, or go back and try again in a few minutes.",
    )


async def start(request: Request) -> Response:
    fields = await checked_form(request)
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    typed = (fields.get("server") or [""])[0]
    try:
        server = instance_url(typed)
    except ValueError:
        raise Refused(
            400,
            "That is not a Mastodon server's name",
            "Type the name of the server your account is on, like mastodon.social (it is "
            "the part after the second @ in your address).",
        ) from None
    state = secrets.token_urlsafe(32)
    redirect_uri = _redirect_uri(request, slug)

    def begin() -> str:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            refuse_if_closed(pc, now)
            if PROVIDER not in pc.message:
                raise Refused(404, "This campaign does not post to Mastodon", "")
            oauth_requests.remember(
                session,
                runtime.vault,
                provider=PROVIDER,
                key=state,
                secret=server,
                pledge_campaign_id=pc.id,
                now=now,
            )
            try:
                url = mastodon_signin.authorize_url(
                    session, runtime.vault, mastodon_of(runtime), server, redirect_uri, state
                )
            except PlatformError as exc:
                raise _not_reachable(server, exc) from None
            session.commit()
            return url

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
            "please go back to the campaign page and press Support with Mastodon again.",
        )
    request.session.pop(STATE_KEY, None)
    code, cancelled = query.get("code", ""), "error" in query
    redirect_uri = _redirect_uri(request, slug)

    def finish() -> str:
        with runtime.sessions() as session:
            pc_id = load_campaign(session, slug).id
            server = oauth_requests.claim(
                session,
                runtime.vault,
                provider=PROVIDER,
                key=state,
                pledge_campaign_id=pc_id,
                now=now,
            )
        if server is None:
            raise Refused(
                400,
                "This sign-in link was already used",
                "Each sign-in works once. Go back to the campaign page to start again.",
            )
        if cancelled:
            return ""
        if not code or not server:
            raise Refused(400, "This sign-in link is not valid", "The server sent no code.")
        # No database session is held across the server's calls (see pledge_x.finish).
        platform = mastodon_of(runtime)
        try:
            done = mastodon_signin.finish_with_app(
                runtime.sessions, runtime.vault, platform, server, redirect_uri, code
            )
        except AuthError:
            raise Refused(
                400,
                f"{server} did not confirm this sign-in",
                "Nothing was pledged. Please go back to the campaign and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable(server, exc) from None
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            try:
                receipt = pledging.add_pledge(
                    session,
                    runtime.vault,
                    pc,
                    PROVIDER,
                    done.creds,
                    done.who,
                    now=now,
                    max_length=done.max_length,
                )
            except pledging.PledgeError as exc:
                raise Refused(409, "Your pledge was not taken", str(exc)) from None
        return receipt.withdraw_secret

    secret = await run_in_threadpool(finish)
    if cancelled:
        return friendly(
            request,
            200,
            "You cancelled: nothing was pledged",
            "Your server did not give Clarion access. You can go back to the campaign and "
            "pledge whenever you like.",
        )
    forget_page(request, slug)  # the campaign page counts this pledge on its next view
    return signins.after_pledge(request, slug, [secret], now)


def routes() -> list[BaseRoute]:
    return [
        Route("/c/{slug}/pledge/mastodon", rate_limited(start), methods=["POST"]),
        # Only the POST counts against the limit (see pledge_x.routes).
        Route("/c/{slug}/mastodon/callback", callback, methods=["GET"]),
    ]
