"""Mastodon's API as any instance serves it, for every host nobody else serves.

``serves``/``handle`` are what bot/sandbox/hosts.py calls; the host is in
``scope["sandbox_host"]``. Routes (https://docs.joinmastodon.org/methods/):

- ``POST /api/v1/apps``; ``GET /.well-known/oauth-authorization-server``;
  ``GET|POST /oauth/authorize`` (a page a person or a test submits: the account's
  username, then Authorize or Deny); ``POST /oauth/token`` (authorization_code);
  ``POST /oauth/revoke`` (by the app the token was issued to, with its secret);
- ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/:id/statuses``
  (newest first, ``max_id``/``limit``, a ``Link`` header to the next page);
- ``POST /api/v1/statuses`` (``Idempotency-Key``: the same key from the same account
  within an hour answers the status already made), ``GET /api/v1/statuses/:id``,
  ``GET /api/v1/statuses?id[]=``;
- ``GET /api/v2/instance`` (the instance's own ``max_characters``).

Tokens are checked and scopes enforced as Mastodon does (401 for a missing, unknown or
revoked token, 403 "This action is outside the authorized scopes"); a status over the
instance's limit is a 422; every authenticated call carries X-RateLimit-* headers and
posting is limited per account. Scripts (``/_sandbox/script`` with platform
``mastodon``), random faults and latency run here like X's and Graph's.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import grapheme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from bot.sandbox.faults import run_with_faults, transport_of
from bot.sandbox.mastodon.state import (
    OOB,
    App,
    Grant,
    Instance,
    MastodonWorld,
    Token,
    has_scope,
)

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

PLATFORM = "mastodon"
_URL = re.compile(r"https?://\S+")
_REMOTE_MENTION = re.compile(r"(^|[^/\w])@([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+", re.IGNORECASE)


def world(state: SandboxState) -> MastodonWorld:
    """The sandbox's Mastodon instances."""
    found: MastodonWorld = state.mastodon
    return found


def serves(state: SandboxState, host: str) -> bool:
    """Every host no other stand-in claims is a Mastodon instance (made on first use)."""
    return bool(host)


async def handle(state: SandboxState, scope: Scope, receive: Receive, send: Send) -> None:
    inner_scope = dict(scope)
    inner_scope["mastodon_world"] = world(state)
    inner_scope["sandbox_state"] = state
    config = state.faults.get(PLATFORM)
    if state.scripts or (config is not None and config.active):
        state.in_flight += 1
        state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
        try:
            await run_with_faults(
                state,
                PLATFORM,
                inner_scope,
                receive,
                send,
                transport_of(send),
                _APP,
                lambda: [],
            )
        finally:
            state.in_flight -= 1
        return
    await _APP(inner_scope, receive, send)


def status_length(text: str) -> int:
    """Mastodon's StatusLengthValidator: graphemes, each URL as 23, remote mentions by
    their local part."""
    countable = _URL.sub("x" * 23, text)
    countable = _REMOTE_MENTION.sub(r"\1@\2", countable)
    if countable.isascii():  # one grapheme per character; grapheme.length costs ~90 µs
        return len(countable)
    return int(grapheme.length(countable))


# -- helpers ----------------------------------------------------------------------------


def _instance(request: Request) -> Instance:
    mastodon: MastodonWorld = request.scope["mastodon_world"]
    return mastodon.instance(request.scope["sandbox_host"])


def _world(request: Request) -> MastodonWorld:
    mastodon: MastodonWorld = request.scope["mastodon_world"]
    return mastodon


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=headers)


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _token(request: Request, scope: str) -> Token:
    """The request's Bearer token, checked as Mastodon's Doorkeeper does."""
    instance = _instance(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise _Refused(_error(401, "The access token is invalid"))
    token = instance.tokens.get(header[7:].strip())
    if token is None or token.revoked:
        raise _Refused(_error(401, "The access token is invalid"))
    if not has_scope(token.scopes, scope):
        raise _Refused(_error(403, "This action is outside the authorized scopes"))
    return token


async def _params(request: Request) -> dict[str, Any]:
    """Form or JSON body, as Rails reads either."""
    kind = request.headers.get("content-type", "")
    if "application/json" in kind:
        try:
            data = await request.json()
        except ValueError:
            raise _Refused(_error(400, "Invalid JSON")) from None
        return data if isinstance(data, dict) else {}
    form = await request.form()
    return {k: v for k, v in form.items()}


def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    moment = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": moment,
    }


def endpoint(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            result: Response = await handler(request)
        except _Refused as refused:
            return refused.response
        return result

    return wrapped


# -- apps and OAuth ---------------------------------------------------------------------


async def create_app(request: Request) -> Response:
    data = await _params(request)
    name = str(data.get("client_name") or "").strip()
    uris = str(data.get("redirect_uris") or "").split()
    if not name:
        return _error(422, "Validation failed: Application name can't be blank")
    if not uris:
        return _error(422, "Validation failed: Redirect URI can't be blank")
    scopes = str(data.get("scopes") or "read").split()
    website = data.get("website")
    mastodon = _world(request)
    app_id = mastodon.next_id()
    client_id = secrets.token_urlsafe(32)
    client_secret = secrets.token_urlsafe(32)
    app = App(client_id, client_secret, name, uris, scopes, str(website) if website else None)
    instance = _instance(request)
    with mastodon.lock:
        instance.apps[client_id] = app
    return JSONResponse(
        {
            "id": app_id,
            "name": name,
            "website": app.website,
            "scopes": scopes,
            "redirect_uri": "\n".join(uris),
            "redirect_uris": uris,
            "client_id": client_id,
            "client_secret": client_secret,
            "vapid_key": "",
        }
    )


async def server_info(request: Request) -> Response:
    base = _instance(request).base
    return JSONResponse(
        {
            "issuer": base + "/",
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "scopes_supported": [
                "read",
                "write",
                "read:accounts",
                "read:statuses",
                "write:statuses",
                "profile",
            ],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "app_registration_endpoint": f"{base}/api/v1/apps",
        }
    )


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Authorize {app} — {host} (sandbox)</title></head><body>
<main><h1>{host}</h1><p><strong>{app}</strong> wants to use your account
({scopes}).</p>{error}
<form method="post" action="">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required value="{username}">
<button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form></main></body></html>"""


async def authorize(request: Request) -> Response:
    instance = _instance(request)
    query = request.query_params
    app = instance.apps.get(query.get("client_id", ""))
    if app is None:
        return HTMLResponse("<p>Client authentication failed: unknown client.</p>", 401)
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in app.redirect_uris:
        return HTMLResponse("<p>The redirect uri included is not valid.</p>", 400)
    scopes = (query.get("scope") or "read").split()
    if any(not any(has_scope([s], want) or s == want for s in app.scopes) for want in scopes):
        return HTMLResponse("<p>The requested scope is invalid.</p>", 400)
    if query.get("response_type", "code") != "code":
        return HTMLResponse("<p>unsupported_response_type</p>", 400)
    username, error = "", ""
    if request.method == "POST":
        form = await request.form()
        username = str(form.get("username") or "")
        state = query.get("state")
        if form.get("decision") == "deny":
            return _back(redirect_uri, {"error": "access_denied", "state": state})
        account = instance.account_by_name(username)
        if account is None:
            error = "<p role='alert'>No account by that name on this server.</p>"
        else:
            mastodon = _world(request)
            code = secrets.token_urlsafe(24)
            with mastodon.lock:
                instance.grants[code] = Grant(
                    code, app.client_id, account.id, redirect_uri, scopes, time.time() + 600
                )
            if redirect_uri == OOB:
                return HTMLResponse(f"<p>Your authorization code: <code>{code}</code></p>")
            return _back(redirect_uri, {"code": code, "state": state})
    page = _PAGE.format(
        app=html.escape(app.name),
        host=html.escape(instance.host),
        scopes=html.escape(" ".join(scopes)),
        error=error,
        username=html.escape(username),
    )
    return HTMLResponse(page)


def _back(redirect_uri: str, params: dict[str, str | None]) -> Response:
    clean = {k: v for k, v in params.items() if v is not None}
    glue = "&" if urlsplit(redirect_uri).query else "?"
    return RedirectResponse(redirect_uri + glue + urlencode(clean), 302)


async def token(request: Request) -> Response:
    instance = _instance(request)
    mastodon = _world(request)
    data = await _params(request)
    app = instance.apps.get(str(data.get("client_id") or ""))
    if app is None or data.get("client_secret") != app.client_secret:
        return JSONResponse(
            {"error": "invalid_client", "error_description": "Client authentication failed"},
            401,
        )
    if data.get("grant_type") != "authorization_code":
        return JSONResponse({"error": "unsupported_grant_type"}, 400)
    with mastodon.lock:
        grant = instance.grants.pop(str(data.get("code") or ""), None)
    if (
        grant is None
        or grant.client_id != app.client_id
        or grant.redirect_uri != data.get("redirect_uri")
        or grant.expires < time.time()
    ):
        return JSONResponse(
            {
                "error": "invalid_grant",
                "error_description": "The provided authorization grant is invalid, expired, "
                "revoked, does not match the redirection URI used in the authorization "
                "request, or was issued to another client.",
            },
            400,
        )
    issued = mastodon.issue_token(instance, grant.account_id, grant.scopes, app.client_id)
    return JSONResponse(
        {
            "access_token": issued.token,
            "token_type": "Bearer",
            "scope": " ".join(issued.scopes),
            "created_at": int(time.time()),
        }
    )


async def revoke_token(request: Request) -> Response:
    """As Doorkeeper (Mastodon's OAuth) answers: 200 for a token it does not know (RFC
    7009 section 2.2); a token issued to an app is revoked only for that app, with its
    secret, else 403 ``unauthorized_client``."""
    instance = _instance(request)
    data = await _params(request)
    token = instance.tokens.get(str(data.get("token") or ""))
    if token is None:
        return JSONResponse({})
    app = instance.apps.get(str(data.get("client_id") or ""))
    own_app = (
        app is not None
        and data.get("client_secret") == app.client_secret
        and app.client_id == token.client_id
    )
    if token.client_id is not None and not own_app:
        return JSONResponse(
            {
                "error": "unauthorized_client",
                "error_description": "You are not authorized to revoke this token",
            },
            403,
        )
    _world(request).revoke(request.scope["sandbox_host"], token.token)
    return JSONResponse({})


# -- accounts, statuses, instance -------------------------------------------------------


async def verify_credentials(request: Request) -> Response:
    found = _token(request, "read:accounts")
    instance = _instance(request)
    account = instance.accounts[found.account_id]
    return JSONResponse(_world(request).account_json(instance, account))


async def account_statuses(request: Request) -> Response:
    _token(request, "read:statuses")
    instance = _instance(request)
    mastodon = _world(request)
    account_id = request.path_params["account_id"]
    if account_id not in instance.accounts:
        return _error(404, "Record not found")
    try:
        limit = min(40, max(1, int(request.query_params.get("limit", "20"))))
    except ValueError:
        limit = 20
    max_id = request.query_params.get("max_id")
    found = mastodon.statuses_of(instance, account_id)
    if max_id:
        found = [s for s in found if int(s.id) < int(max_id)]
    page = found[:limit]
    headers = {}
    if len(found) > limit:
        next_url = f"{instance.base}/api/v1/accounts/{account_id}/statuses?" + urlencode(
            {"limit": limit, "max_id": page[-1].id}
        )
        headers["Link"] = f'<{next_url}>; rel="next"'
    body = [mastodon.status_json(instance, s) for s in page]
    return JSONResponse(body, headers=headers)


async def create_status(request: Request) -> Response:
    found = _token(request, "write:statuses")
    instance = _instance(request)
    mastodon = _world(request)
    state: SandboxState = request.scope["sandbox_state"]
    allowed, window = state.limiter.hit(
        "mastodon:statuses",
        f"{instance.host}:{found.account_id}",
        instance.statuses_per_window,
        instance.statuses_window_s,
    )
    headers = _rate_headers(window.limit, window.remaining, window.reset)
    if not allowed:
        return _error(429, "Too many requests", headers)
    data = await _params(request)
    text = str(data.get("status") or "")
    reply_to = data.get("in_reply_to_id")
    if not text.strip():
        state.limiter.refund("mastodon:statuses", f"{instance.host}:{found.account_id}")
        return _error(422, "Validation failed: Text can't be blank", headers)
    if status_length(text) > instance.max_characters:
        state.limiter.refund("mastodon:statuses", f"{instance.host}:{found.account_id}")
        return _error(
            422,
            f"Validation failed: Text character limit of {instance.max_characters} exceeded",
            headers,
        )
    if reply_to is not None and str(reply_to) not in instance.statuses:
        return _error(404, "Record not found", headers)
    app = instance.apps.get(found.client_id or "")
    status, _created = mastodon.post(
        instance,
        found.account_id,
        text,
        str(reply_to) if reply_to is not None else None,
        request.headers.get("idempotency-key"),
        app.name if app else None,
    )
    state.mark_dirty()
    return JSONResponse(mastodon.status_json(instance, status), headers=headers)


async def get_status(request: Request) -> Response:
    instance = _instance(request)
    status = instance.statuses.get(request.path_params["status_id"])
    if status is None:
        return _error(404, "Record not found")
    return JSONResponse(_world(request).status_json(instance, status))


async def get_statuses(request: Request) -> Response:
    instance = _instance(request)
    ids = request.query_params.getlist("id[]")
    mastodon = _world(request)
    return JSONResponse(
        [
            mastodon.status_json(instance, instance.statuses[i])
            for i in ids
            if i in instance.statuses
        ]
    )


async def instance_v2(request: Request) -> Response:
    instance = _instance(request)
    return JSONResponse(
        {
            "domain": instance.host,
            "title": f"{instance.host} (sandbox)",
            "version": "4.3.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A Mastodon instance of the Clarion sandbox",
            "api_versions": {"mastodon": 2},
            "configuration": {
                "urls": {"streaming": f"wss://{instance.host}"},
                "accounts": {"max_featured_tags": 10},
                "statuses": {
                    "max_characters": instance.max_characters,
                    "max_media_attachments": 4,
                    "characters_reserved_per_url": 23,
                },
            },
            "registrations": {"enabled": False, "approval_required": False},
            "rules": [],
        }
    )


async def not_found(request: Request, exc: Exception) -> Response:
    """A path the instance has no route for: Mastodon's JSON 404."""
    return _error(404, "Record not found")


def _routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/apps", endpoint(create_app), methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", endpoint(server_info)),
        Route("/oauth/authorize", endpoint(authorize), methods=["GET", "POST"]),
        Route("/oauth/token", endpoint(token), methods=["POST"]),
        Route("/oauth/revoke", endpoint(revoke_token), methods=["POST"]),
        Route("/api/v1/accounts/verify_credentials", endpoint(verify_credentials)),
        Route("/api/v1/accounts/{account_id}/statuses", endpoint(account_statuses)),
        Route("/api/v1/statuses", endpoint(create_status), methods=["POST"]),
        Route("/api/v1/statuses", endpoint(get_statuses), methods=["GET"]),
        Route("/api/v1/statuses/{status_id}", endpoint(get_status)),
        Route("/api/v2/instance", endpoint(instance_v2)),
    ]


_APP = Starlette(routes=_routes(), exception_handlers={404: not_found})


# -- admin API (/_sandbox/mastodon/...) -------------------------------------------------


async def _admin_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _admin(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    return wrapped


def _admin_world(request: Request) -> MastodonWorld:
    return world(request.app.state.sandbox)


async def admin_instance(request: Request) -> Response:
    """POST {host, max_characters?, statuses_per_window?, statuses_window_s?}."""
    data = await _admin_json(request)
    host = str(data.pop("host", "")).strip().lower()
    if not host:
        raise ValueError("host is required (e.g. union.social)")
    instance = _admin_world(request).instance(host, **data)
    return JSONResponse(
        {
            "host": instance.host,
            "max_characters": instance.max_characters,
            "statuses_per_window": instance.statuses_per_window,
            "statuses_window_s": instance.statuses_window_s,
        },
        201,
    )


async def admin_account(request: Request) -> Response:
    """POST {host, username, followers?, display_name?} -> the account and a read+write
    access token."""
    data = await _admin_json(request)
    host = str(data.get("host", "")).strip().lower()
    if not host:
        raise ValueError("host is required (e.g. union.social)")
    mastodon = _admin_world(request)
    instance = mastodon.instance(host)
    existing = instance.account_by_name(str(data.get("username", "")))
    if existing is not None and data.get("reuse"):
        # As when its owner signs in again: the same account, a fresh token.
        account = existing
        issued = mastodon.issue_token(instance, account.id, ["read", "write"], None)
    else:
        account, issued = mastodon.create_account(
            host,
            str(data.get("username", "")),
            followers=int(data.get("followers", 100)),
            display_name=data.get("display_name"),
        )
    request.app.state.sandbox.mark_dirty()
    return JSONResponse(
        {
            "id": account.id,
            "username": account.username,
            "host": host,
            "server": f"https://{host}",
            "access_token": issued.token,
        },
        201,
    )


async def admin_statuses(request: Request) -> Response:
    """GET ?host=&account_id= -> the account's statuses, newest first, with their text."""
    mastodon = _admin_world(request)
    host = request.query_params.get("host", "").lower()
    instance = mastodon.instances.get(host)
    if instance is None:
        return JSONResponse({"error": f"no instance {host!r}"}, 404)
    account_id = request.query_params.get("account_id", "")
    return JSONResponse(
        [
            {**mastodon.status_json(instance, s), "text": s.text}
            for s in mastodon.statuses_of(instance, account_id)
        ]
    )


async def admin_revoke(request: Request) -> Response:
    """POST {host, token}: as when the user removes the app from Authorized apps."""
    data = await _admin_json(request)
    if not _admin_world(request).revoke(str(data.get("host", "")), str(data.get("token", ""))):
        return JSONResponse({"error": "unknown token"}, 404)
    return JSONResponse({"revoked": True})


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/instances", _admin(admin_instance), methods=["POST"]),
        Route("/accounts", _admin(admin_account), methods=["POST"]),
        Route("/statuses", _admin(admin_statuses), methods=["GET"]),
        Route("/revoke", _admin(admin_revoke), methods=["POST"]),
    ]
