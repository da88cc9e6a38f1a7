"""X's OAuth 1.0a three-legged flow: request token, consent page, access token.

Follows X's "Obtaining user access tokens" guide: POST /oauth/request_token (signed by
the app, with oauth_callback, which may be "oob"), the user consents at
GET /oauth/authorize?oauth_token=..., then POST /oauth/access_token with oauth_verifier
returns oauth_token, oauth_token_secret, user_id and screen_name. On the sandbox the
consent page lets the volunteer pick (or create) the sandbox user who consents.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.templating import templates
from bot.sandbox.x.oauth1 import OAuthFailure, parse_header, verify
from bot.sandbox.x.state import RequestToken, random_token

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

logger = logging.getLogger(__name__)


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def _verified(request: Request, with_request_token: bool) -> tuple[dict[str, str], str]:
    """Check the app's signature; ``with_request_token``: signed with a request token too."""
    state = _state(request)
    body = (await request.body()).decode("utf-8", "replace")
    form = (
        body
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        else None
    )
    oauth = parse_header(request.headers.get("authorization", ""))
    if oauth.consumer_key != state.options.consumer_key:
        raise OAuthFailure("unknown consumer key")
    params = dict(oauth.params)
    if form:
        params.update(dict(parse_qsl(form)))
    params.update(dict(request.query_params))
    token_secret = ""
    if with_request_token:
        pending = state.x.request_tokens.get(oauth.token or "")
        if pending is None or pending.used:
            raise OAuthFailure("unknown or used request token")
        token_secret = pending.secret
    verify(
        oauth,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        form_body=form,
        consumer_secret=state.options.consumer_secret,
        token_secret=token_secret,
        now=state.clock.wall(),
    )
    return params, oauth.token or ""


def _unauthorized() -> Response:
    # X answers OAuth endpoint failures with 401 and a short text body.
    return PlainTextResponse("Invalid request token.", status_code=401)


async def request_token(request: Request) -> Response:
    try:
        params, _ = await _verified(request, False)
    except OAuthFailure as failure:
        logger.info("request_token refused: %s", failure.reason)
        return _unauthorized()
    callback = params.get("oauth_callback", "")
    if not callback:
        return PlainTextResponse("oauth_callback is required", status_code=400)
    pending = RequestToken(random_token(27), random_token(32), callback)
    _state(request).x.request_tokens[pending.token] = pending
    body = urlencode(
        {
            "oauth_token": pending.token,
            "oauth_token_secret": pending.secret,
            "oauth_callback_confirmed": "true",
        }
    )
    return PlainTextResponse(body, media_type="application/x-www-form-urlencoded")


async def authorize(request: Request) -> Response:
    state = _state(request)
    if request.method == "GET":
        token = request.query_params.get("oauth_token", "")
        pending = state.x.request_tokens.get(token)
        if pending is None or pending.used:
            return HTMLResponse("<h1>This authorisation link is not valid.</h1>", 400)
        return templates.TemplateResponse(
            request,
            "authorize.html",
            {"token": token, "users": list(state.x.users.values()), "error": None},
        )
    # Parsed by hand: Starlette's request.form() needs python-multipart, not a dependency.
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    token = form.get("oauth_token", "")
    pending = state.x.request_tokens.get(token)
    if pending is None or pending.used:
        return HTMLResponse("<h1>This authorisation link is not valid.</h1>", 400)
    if "cancel" in form:
        pending.denied = True
        if pending.callback == "oob":
            return HTMLResponse("<h1>You cancelled. The app was not given access.</h1>")
        return RedirectResponse(_with_query(pending.callback, {"denied": token}), 303)
    handle = (form.get("handle") or form.get("existing") or "").strip().lstrip("@")
    user = state.x.user_by_handle(handle) if handle else None
    if user is None:
        try:
            user = state.x.create_user(handle)
        except ValueError as exc:
            return templates.TemplateResponse(
                request,
                "authorize.html",
                {"token": token, "users": list(state.x.users.values()), "error": str(exc)},
                status_code=400,
            )
        state.mark_dirty()
    pending.user_id = user.id
    # X shows a 7-digit PIN for "oob"; the same value serves as the verifier either way.
    pending.verifier = f"{secrets.randbelow(10_000_000):07d}"
    if pending.callback == "oob":
        return templates.TemplateResponse(
            request, "pin.html", {"pin": pending.verifier, "user": user}
        )
    target = _with_query(
        pending.callback, {"oauth_token": token, "oauth_verifier": pending.verifier}
    )
    return RedirectResponse(target, 303)


async def access_token(request: Request) -> Response:
    state = _state(request)
    try:
        params, token = await _verified(request, True)
    except OAuthFailure as failure:
        logger.info("access_token refused: %s", failure.reason)
        return _unauthorized()
    pending = state.x.request_tokens[token]
    verifier = params.get("oauth_verifier", "")
    if (
        pending.denied
        or pending.user_id is None
        or not secrets.compare_digest(verifier, pending.verifier or "-")
    ):
        return PlainTextResponse(
            "Error processing your OAuth request: Invalid oauth_verifier parameter", 401
        )
    pending.used = True
    access = state.x.issue_token(pending.user_id)
    state.mark_dirty()
    user = state.x.users[pending.user_id]
    body = urlencode(
        {
            "oauth_token": access.token,
            "oauth_token_secret": access.secret,
            "user_id": user.id,
            "screen_name": user.username,
        }
    )
    return PlainTextResponse(body, media_type="application/x-www-form-urlencoded")


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def routes() -> list[BaseRoute]:
    return [
        Route("/oauth/request_token", request_token, methods=["POST"]),
        Route("/oauth/authorize", authorize, methods=["GET", "POST"]),
        Route("/oauth/authenticate", authorize, methods=["GET", "POST"]),
        Route("/oauth/access_token", access_token, methods=["POST"]),
    ]
