"""Facebook Login stand-in: the consent dialog, code exchange, long-lived tokens, debug_token.

The real flow (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow):
the app sends the person to ``www.facebook.com/v{N}/dialog/oauth?client_id&redirect_uri
&state&scope``; Facebook asks them to allow the app and redirects back with ``code`` and
``state`` (or ``error=access_denied&error_reason=user_denied``); the app exchanges the code
at ``/v{N}/oauth/access_token`` for a short-lived user token, swaps that for a long-lived
one with ``grant_type=fb_exchange_token`` and asks ``/me/accounts`` for Page tokens.
Facebook appends ``#_=_`` to the redirect; so do we.

In the sandbox the consent page also lets the volunteer pick or create the Facebook
person who consents, and optionally a Page for them to run, so a rehearsal needs no setup.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.state import GraphState

logger = logging.getLogger(__name__)

DATA_ACCESS_SECONDS = 90 * 24 * 3600  # Facebook's data-access window after a login


def _with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}#_=_"


def _redirect_allowed(state: GraphState, redirect_uri: str) -> bool:
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    domains = getattr(state.options, "fb_redirect_domains", None)
    if not domains:
        return True
    host = parts.hostname
    return any(host == d or host.endswith("." + d) for d in domains)


def _error_page(title: str, text: str, status: int = 400) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def _consent_page(state: GraphState, params: dict[str, str], note: str = "") -> HTMLResponse:
    esc = html.escape
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{esc(params.get(name, ''))}'>"
        for name in ("client_id", "redirect_uri", "state", "scope", "response_type")
    )
    people = "".join(
        f"<li><label><input type='radio' name='user_id' value='{esc(u.id)}'"
        f"{' checked' if i == 0 else ''}> {esc(u.name)}"
        f" <small>({len(state.pages_of(u.id))} Page(s))</small></label></li>"
        for i, u in enumerate(state.users.values())
    )
    scopes = esc(params.get("scope", "") or "public_profile")
    app_name = esc(str(getattr(state.options, "fb_app_name", None) or "Clarion (sandbox)"))
    body = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in with Facebook (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:32em;margin:1em auto;padding:0 1em}}
button{{font-size:1.1em;padding:.5em 1.2em;margin:.3em}}</style></head><body>
<h1>{app_name} wants to use your Facebook account</h1>
<p>This is the sandbox stand-in for Facebook Login. Permissions asked: <b>{scopes}</b></p>
{f"<p><b>{esc(note)}</b></p>" if note else ""}
<form method="post">{hidden}
<fieldset><legend>Continue as</legend><ul>{people or "<li>No people yet.</li>"}</ul>
<label>or a new person: <input name="new_user" placeholder="Full name"></label></fieldset>
<fieldset><legend>Optional: create a Page they run</legend>
<label>Page name <input name="page_name"></label>
<label>followers <input name="page_followers" type="number" min="0" value="100"></label>
</fieldset>
<button name="decision" value="allow">Allow</button>
<button name="decision" value="cancel">Cancel</button>
</form></body></html>"""
    return HTMLResponse(body)


async def dialog(
    request: Request, state: GraphState, version: str, params: dict[str, str]
) -> Response:
    """GET shows the consent page; POST (the form) redirects back to the app."""
    if params.get("client_id") != state.app_id:
        return _error_page(
            "Invalid App ID", "The provided app ID does not look like a valid app ID."
        )
    redirect_uri = params.get("redirect_uri", "")
    if not _redirect_allowed(state, redirect_uri):
        # Graph error 191 in the dialog.
        return _error_page(
            "Can't load URL",
            "The domain of this URL isn't included in the app's domains. To be able to load "
            "this URL, add all domains and subdomains of your app to the App Domains field "
            "in your app settings.",
        )
    if request.method != "POST":
        return _consent_page(state, params)
    back = {"state": params["state"]} if params.get("state") else {}
    if params.get("decision") != "allow":
        denied = {
            "error": "access_denied",
            "error_code": "200",
            "error_description": "Permissions error",
            "error_reason": "user_denied",
            **back,
        }
        return RedirectResponse(_with_query(redirect_uri, denied), status_code=302)
    try:
        if params.get("new_user", "").strip():
            user_id = state.create_user(params["new_user"]).id
        elif params.get("user_id") in state.users:
            user_id = params["user_id"]
        else:
            return _consent_page(state, params, "Pick a person or type a new name.")
        if params.get("page_name", "").strip():
            followers = int(params.get("page_followers") or 100)
            state.create_page(params["page_name"], followers=followers, user_id=user_id)
    except ValueError as exc:
        return _consent_page(state, params, str(exc))
    scopes = [s.strip() for s in params.get("scope", "").split(",") if s.strip()]
    code = state.issue_code(user_id, state.app_id, redirect_uri, scopes or ["public_profile"])
    return RedirectResponse(_with_query(redirect_uri, {"code": code, **back}), status_code=302)


def _check_app(state: GraphState, params: dict[str, str]) -> None:
    if params.get("client_id") != state.app_id:
        raise errors.GraphError("Error validating application. Invalid application ID.", code=101)
    if params.get("client_secret") != state.app_secret:
        raise errors.GraphError("Error validating client secret.", code=1, transient=False)


def access_token(state: GraphState, params: dict[str, str]) -> dict[str, Any]:
    """GET /v{N}/oauth/access_token: code exchange, fb_exchange_token, client_credentials."""
    _check_app(state, params)
    grant = params.get("grant_type")
    if grant == "client_credentials":
        return {"access_token": state.app_token(), "token_type": "bearer"}
    if grant == "fb_exchange_token":
        short = state.validate(params.get("fb_exchange_token", ""))
        if short.kind != "user" or short.user_id is None:
            raise errors.bad_parameter("Invalid fb_exchange_token: not a user access token")
        token = state.issue_user_token(short.user_id, short.scopes, long_lived=True)
    else:
        if not params.get("redirect_uri"):
            raise errors.bad_parameter("Missing redirect_uri parameter.")
        if not params.get("code"):
            raise errors.GraphError("Missing authorization code", code=1, transient=False)
        token = state.redeem_code(params["code"], params["redirect_uri"])
    assert token.expires_at is not None
    return {
        "access_token": token.value,
        "token_type": "bearer",
        "expires_in": int(token.expires_at - state.now()),
    }


def debug_token(state: GraphState, params: dict[str, str]) -> dict[str, Any]:
    """GET /v{N}/debug_token?input_token&access_token (app token or a token of the app)."""
    caller = params.get("access_token", "")
    if not caller:
        raise errors.no_token()
    if not state.is_app_token(caller):
        state.validate(caller)
    value = params.get("input_token")
    if not value:
        raise errors.bad_parameter("The parameter input_token is required")
    app_name = str(getattr(state.options, "fb_app_name", None) or "Clarion (sandbox)")
    if state.is_app_token(value):
        return {
            "data": {
                "app_id": state.app_id,
                "type": "APP",
                "application": app_name,
                "is_valid": True,
            }
        }
    token = state.inspect(value)
    if token is None:
        return {
            "data": {
                "error": {"code": 190, "message": "Invalid OAuth access token."},
                "is_valid": False,
                "scopes": [],
            }
        }
    data: dict[str, Any] = {
        "app_id": state.app_id,
        "type": token.kind.upper(),
        "application": app_name,
        "data_access_expires_at": int(token.issued_at + DATA_ACCESS_SECONDS),
        "expires_at": int(token.expires_at) if token.expires_at is not None else 0,
        "is_valid": True,
        "issued_at": int(token.issued_at),
        "scopes": list(token.scopes),
        "user_id": token.user_id,
    }
    if token.kind == "page":
        data["profile_id"] = token.page_id
    try:
        state.validate(value)
    except errors.GraphError as error:
        data["is_valid"] = False
        data["error"] = {"code": error.code, "message": error.message}
        if error.subcode is not None:
            data["error"]["subcode"] = error.subcode
    return {"data": data}
