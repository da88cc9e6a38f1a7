"""Pledging a Bluesky account: AT Protocol OAuth (bot.platforms.bluesky.oauth), then
add_pledge.

GET  /c/{slug}/pledge/bluesky           the step before (bot.web.support): the handle
POST /c/{slug}/pledge/bluesky           (CSRF, rate-limited) handle -> identity -> PAR ->
                                        the account's own authorization server
GET  /oauth/bluesky/callback            back with code + state + iss, or error=access_denied
GET  /oauth/bluesky/client-metadata.json  the client metadata document (our client_id)
GET  /oauth/bluesky/jwks.json           the public key of BLUESKY_OAUTH_KEY

https://docs.bsky.app/docs/advanced-guides/oauth-client. The supporter types only their
handle; their password goes to their own server's sign-in page, never to Clarion (app
passwords are for the campaign's own account, from the CLI). The callback is one URL for
every campaign (a client's redirect URIs are fixed in its metadata document), so the
campaign rides in this browser's session beside the sign-in's ``state``; the sign-in
itself (PKCE verifier, DPoP key) is kept server-side, sealed, used once
(bot/pledges/oauth_requests.py).
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.platforms.base import AccountInfo, AuthError, PlatformError
from bot.platforms.bluesky import oauth
from bot.platforms.http import reroute_url
from bot.pledges import oauth_requests, oauth_sessions, pledging
from bot.runtime.wiring import Runtime, routes_for
from bot.web import signins
from bot.web.campaign import forget_page, load_campaign
from bot.web.pages import friendly, now_of, runtime_of
from bot.web.pledge_x import refuse_if_closed
from bot.web.security import Refused, checked_form, rate_limited
from bot.web.support import render_step

logger = logging.getLogger(__name__)

PROVIDER = "bluesky"
STATE_KEY = "bsky_state"
SLUG_KEY = "bsky_slug"


class BlueskySignIn:
    """The OAuth client the campaign pages use, made once per app from the settings."""

    def __init__(self, runtime: Runtime) -> None:
        self.base_url = runtime.settings.web_base_url.rstrip("/")
        self.routes = routes_for(runtime.settings)
        self.client = oauth_sessions.bluesky_client(runtime)

    def browser_url(self, url: str) -> str:
        """Where the browser goes: the server's real URL, or the sandbox standing in for
        it in a rehearsal (the same routes the server-side calls take)."""
        return reroute_url(url, self.routes)


def signin_of(request: Request) -> BlueskySignIn:
    found: BlueskySignIn = request.app.state.bluesky_signin
    return found


def _not_reachable(exc: PlatformError) -> Refused:
    logger.warning("Bluesky sign-in failed: %s", exc.message)
    return Refused(
        503,
        "Bluesky is not answering right now",
        "Nothing was pledged. Please go back and try again in a few minutes.",
    )


async def start(request: Request) -> Response:
    fields = await checked_form(request)
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    handle = (fields.get("handle") or [""])[0].strip()[:260]
    signin = signin_of(request)

    def begin() -> oauth.PendingSignIn:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            refuse_if_closed(pc, now)
            if PROVIDER not in pc.message:
                raise Refused(404, "This campaign does not post to Bluesky", "")
            pc_id = pc.id
        # No database session is held across the identity look-ups and the PAR (up to
        # six calls): a crowd signing in must not starve the daemon's pool.
        try:
            pending = signin.client.start(handle)
        except AuthError as exc:
            logger.warning("Bluesky sign-in refused: %s", exc.message)
            raise Refused(
                502,
                "Bluesky's sign-in did not accept Clarion's request",
                "Nothing was pledged. Please try again later; if it keeps happening, tell "
                "the campaign's organisers.",
            ) from None
        except oauth.HandleNotFound:
            raise
        except PlatformError as exc:
            raise _not_reachable(exc) from None
        with runtime.sessions() as session:
            oauth_requests.remember(
                session,
                runtime.vault,
                provider=PROVIDER,
                key=pending.state,
                secret=pending.dumps(),
                pledge_campaign_id=pc_id,
                now=now,
            )
        return pending

    try:
        pending = await run_in_threadpool(begin)
    except oauth.HandleNotFound as exc:
        error = f"{exc.message[:1].upper()}{exc.message[1:]}. Check the handle and try again."
        return await render_step(request, slug, PROVIDER, handle=handle, error=error, status=400)
    request.session[STATE_KEY] = pending.state
    request.session[SLUG_KEY] = slug
    return RedirectResponse(signin.browser_url(pending.authorize_url), status_code=303)


async def callback(request: Request) -> Response:
    runtime, now = runtime_of(request), now_of(request)
    query = request.query_params
    state = query.get("state", "")
    slug = request.session.get(SLUG_KEY)
    if not isinstance(slug, str) or not signins.in_this_browser(request, STATE_KEY, state):
        raise Refused(
            400,
            "This sign-in link is not valid",
            "It did not come from a sign-in started in this browser. Nothing was pledged; "
            "please go back to the campaign page and press Support with Bluesky again.",
        )
    request.session.pop(STATE_KEY, None)
    cancelled = query.get("error") == "access_denied"
    signin = signin_of(request)

    def finish() -> str:
        with runtime.sessions() as session:
            pc_id = load_campaign(session, slug).id
            kept = oauth_requests.claim(
                session,
                runtime.vault,
                provider=PROVIDER,
                key=state,
                pledge_campaign_id=pc_id,
                now=now,
            )
        if kept is None:
            raise Refused(
                400,
                "This sign-in link was already used",
                "Each sign-in works once. Go back to the campaign page to start again.",
            )
        if cancelled:
            return ""
        pending = oauth.PendingSignIn.loads(kept)
        try:
            creds = signin.client.finish(dict(query), pending)
        except oauth.OtherAccount:
            raise Refused(
                400,
                "You signed in as another Bluesky account",
                f"You typed {pending.handle} but signed in to Bluesky as a different account. "
                "Nothing was pledged: go back to the campaign and type the handle of the "
                "account you want to pledge.",
            ) from None
        except AuthError as exc:
            logger.info("Bluesky sign-in not confirmed: %s", exc.message)
            raise Refused(
                400,
                "Bluesky did not confirm this sign-in",
                "Nothing was pledged. Please go back to the campaign and try again.",
            ) from None
        except PlatformError as exc:
            raise _not_reachable(exc) from None
        who = _who(runtime, creds)
        # A fresh campaign and a fresh clock: the release may have been written meanwhile.
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            try:
                receipt = pledging.add_pledge(
                    session,
                    runtime.vault,
                    pc,
                    PROVIDER,
                    oauth.credentials_of(creds),
                    who,
                    now=now_of(request),
                )
            except pledging.PledgeError as exc:
                raise Refused(409, "Your pledge was not taken", str(exc)) from None
            return receipt.withdraw_secret

    secret = await run_in_threadpool(finish)
    request.session.pop(SLUG_KEY, None)
    if not secret:
        return friendly(
            request,
            200,
            "You cancelled: nothing was pledged",
            "Bluesky did not give Clarion access to your account. You can go back to the "
            "campaign and pledge whenever you like.",
        )
    forget_page(request, slug)  # the campaign page counts this pledge on its next view
    return signins.after_pledge(request, slug, [secret], now_of(request))


def _document(body: dict[str, Any]) -> Response:
    # Authorization servers fetch these; a short cache keeps a key rotation quick.
    return JSONResponse(body, headers={"cache-control": "public, max-age=300"})


def _who(runtime: Runtime, creds: dict[str, Any]) -> AccountInfo:
    """The account just signed in, with its display name and followers read from the
    AppView's ``app.bsky.actor.getProfile`` (``followersCount``) through the adapter's
    ``verify``, as the readiness check reads them again later: the campaign page's reach
    counts them. Should the AppView not answer (or the new tokens be already due a
    refresh, which only the stored row may spend), the pledge is still taken and its
    followers are left unknown until the readiness check."""
    did, handle = str(creds["did"]), str(creds["handle"])
    if oauth.needs_refresh(creds):
        return AccountInfo(did, handle, handle)
    try:
        found = runtime.platform(PROVIDER).verify(oauth.credentials_of(creds))
    except PlatformError as exc:
        logger.info("Bluesky profile of a new pledge not read: %s", exc.message)
        return AccountInfo(did, handle, handle)
    return AccountInfo(did, handle, found.name or handle, found.followers)


async def client_metadata(request: Request) -> Response:
    signin = signin_of(request)
    return _document(oauth.client_metadata(signin.client.config, signin.base_url))


async def jwks(request: Request) -> Response:
    return _document(oauth.public_jwks(signin_of(request).client.config))


def routes() -> list[BaseRoute]:
    return [
        Route("/c/{slug}/pledge/bluesky", rate_limited(start), methods=["POST"]),
        # Only the POST counts against the limit (see pledge_x.routes).
        Route(oauth.CALLBACK_PATH, callback, methods=["GET"]),
        Route(oauth.CLIENT_METADATA_PATH, client_metadata, methods=["GET"]),
        Route(oauth.JWKS_PATH, jwks, methods=["GET"]),
    ]
