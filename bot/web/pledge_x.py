"""Pledging an X account: three-legged OAuth 1.0a, then add_pledge.

GET  /c/{slug}/pledge/x        the step before (bot.web.support)
POST /c/{slug}/pledge/x        (CSRF, rate-limited) -> X's consent page
GET  /c/{slug}/x/callback      X redirects back with oauth_token + oauth_verifier, or
                               with denied= when the person pressed Cancel
https://docs.x.com/fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.platforms.base import AuthError, Credentials, PlatformError
from bot.pledges import oauth_requests, pledging
from bot.runtime.wiring import X_ORIGIN, Runtime, routes_for
from bot.storage.models import PledgeCampaign
from bot.web import signins
from bot.web.campaign import forget_page, load_campaign
from bot.web.pages import base_url, friendly, now_of, runtime_of
from bot.web.security import Refused, checked_form, rate_limited

if TYPE_CHECKING:
    from bot.platforms.x.signin import XWebSignIn

logger = logging.getLogger(__name__)

SESSION_KEY = "x_oauth"


def x_web_signin(runtime: Runtime) -> XWebSignIn:
    """X's three-legged sign-in with the app's keys (pledges and the console's Accounts)."""
    from bot.platforms.x.signin import XWebSignIn  # tweepy only when someone signs in

    s = runtime.settings
    return XWebSignIn(
        s.x_consumer_key.reveal(),
        s.x_consumer_secret.reveal(),
        api_base_url=routes_for(s).get(X_ORIGIN),
        timeout=s.http_timeout_seconds,
    )


def _not_reachable(exc: PlatformError) -> Refused:
    logger.warning("X sign-in failed: %s", exc.message)
    return Refused(
        503,
        "X is not answering right now",
        "Nothing was pledged. Please go back and try again in a few minutes.",
    )


def refuse_if_closed(pc: PledgeCampaign, now: datetime) -> None:
    """The same cut-off as add_pledge (release_at - PREPARE): a sign-in is not started
    for a pledge that could no longer be taken."""
    if not pledging.is_open(pc, now):
        raise Refused(
            410,
            "This campaign is no longer taking pledges",
            "Its release has started or it has ended.",
        )


async def start(request: Request) -> Response:
    await checked_form(request)
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    callback = f"{base_url(request)}/c/{quote(slug)}/x/callback"

    def begin() -> tuple[str, str]:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            refuse_if_closed(pc, now)
            if "x" not in pc.message:
                raise Refused(404, "This campaign does not post to X", "")
            try:
                url, token, secret = x_web_signin(runtime).start(callback)
            except PlatformError as exc:
                raise _not_reachable(exc) from None
            oauth_requests.remember(
                session,
                runtime.vault,
                provider="x",
                key=token,
                secret=secret,
                pledge_campaign_id=pc.id,
                now=now,
            )
            return url, token

    url, token = await run_in_threadpool(begin)
    request.session[SESSION_KEY] = token
    return RedirectResponse(url, status_code=303)


async def callback(request: Request) -> Response:
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    if "denied" in query:
        denied = query["denied"]

        def forget() -> None:
            # Only this browser's own sign-in is used up: a cancel link with someone
            # else's token must not spoil the sign-in they are in the middle of.
            if not signins.in_this_browser(request, SESSION_KEY, denied):
                return
            with runtime.sessions() as session:
                pc = load_campaign(session, slug)
                oauth_requests.claim(
                    session,
                    runtime.vault,
                    provider="x",
                    key=denied,
                    pledge_campaign_id=pc.id,
                    now=now,
                )

        await run_in_threadpool(forget)
        request.session.pop(SESSION_KEY, None)
        return friendly(
            request,
            200,
            "You cancelled: nothing was pledged",
            "X did not give Clarion access to your account. You can go back to the "
            "campaign and pledge whenever you like.",
        )
    token, verifier = query.get("oauth_token", ""), query.get("oauth_verifier", "")
    if not token or not verifier or not signins.in_this_browser(request, SESSION_KEY, token):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was pledged; "
            "please go back to the campaign page and press Support with X again.",
        )

    def finish() -> str:
        # No database session is held across X's calls (two, up to HTTP_TIMEOUT_SECONDS
        # each): a crowd of sign-ins at the release must not starve the daemon's pool.
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            secret = oauth_requests.claim(
                session,
                runtime.vault,
                provider="x",
                key=token,
                pledge_campaign_id=pc.id,
                now=now,
            )
            if secret is None:
                raise Refused(
                    400,
                    "This sign-in link was already used",
                    "Each sign-in works once. Nothing more was pledged; if you meant to "
                    "pledge, go back to the campaign page and start again.",
                )
        try:
            access, access_secret, who = x_web_signin(runtime).finish(token, secret, verifier)
        except AuthError:
            raise Refused(
                400,
                "X did not confirm this sign-in",
                "Nothing was pledged. Please go back to the campaign and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable(exc) from None
        creds = Credentials(access, access_secret, who.platform_user_id)
        # A fresh campaign and a fresh clock: the release may have been written meanwhile.
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            try:
                receipt = pledging.add_pledge(
                    session, runtime.vault, pc, "x", creds, who, now=now_of(request)
                )
            except pledging.PledgeError as exc:
                raise Refused(409, "Your pledge was not taken", str(exc)) from None
            return receipt.withdraw_secret

    secret = await run_in_threadpool(finish)
    request.session.pop(SESSION_KEY, None)
    forget_page(request, slug)  # the campaign page counts this pledge on its next view
    return signins.after_pledge(request, slug, [secret], now_of(request))


def routes() -> list[BaseRoute]:
    return [
        Route("/c/{slug}/pledge/x", rate_limited(start), methods=["POST"]),
        # Only the POSTs count against the limit: a start and its callback are one
        # attempt, and a crowd behind one NAT (a rally's wifi) must not be throttled
        # twice. The callback is bound to a one-time row and this browser's session.
        Route("/c/{slug}/x/callback", callback, methods=["GET"]),
    ]
