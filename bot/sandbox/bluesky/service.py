"""The sandbox's Bluesky hosts: identity (a handle's ``/.well-known/atproto-did``, the
AppView's ``com.atproto.identity.resolveHandle``, plc.directory's DID documents), the
OAuth authorization server (``oauth_server``, for ``/oauth/...`` and
``/.well-known/oauth-...``) and ``com.atproto.server.getSession``, which checks
DPoP-bound tokens (``oauth_server.verify_access``) as a PDS does for every call."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from bot.sandbox.bluesky import oauth_server

SUFFIXES = ("bsky.social", "bsky.app", "bsky.network", "plc.directory")


def serves(state: Any, host: str) -> bool:
    return host.endswith(SUFFIXES) or state.bluesky.serves_handle(host)


def did_document(account: Any) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": account.did,
        "alsoKnownAs": [f"at://{account.handle}"],
        "service": [
            {
                "id": "#atproto_pds",
                "type": "AtprotoPersonalDataServer",
                "serviceEndpoint": account.pds_url,
            }
        ],
    }


async def handle(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    host, path = scope["sandbox_host"], scope["path"]
    if oauth_server.serves_path(path):
        await oauth_server.handle(state, scope, receive, send)
        return
    accounts = state.bluesky
    response: Response = JSONResponse({"error": "NotFound", "message": path}, status_code=404)
    if host == "plc.directory":
        account = accounts.account_by_did(path.lstrip("/"))
        if account is not None:
            response = JSONResponse(did_document(account))
    elif path == "/.well-known/atproto-did":
        account = accounts.account_by_handle(host)
        if account is not None:
            response = PlainTextResponse(account.did)
    elif path == "/xrpc/com.atproto.identity.resolveHandle":
        account = accounts.account_by_handle(Request(scope).query_params.get("handle", ""))
        if account is None:
            response = JSONResponse(
                {"error": "InvalidRequest", "message": "Unable to resolve handle"}, 400
            )
        else:
            response = JSONResponse({"did": account.did})
    elif path == "/xrpc/com.atproto.server.getSession":
        request = Request(scope)
        try:
            did = oauth_server.verify_access(
                state, scope["method"], f"https://{host}{path}", request.headers
            )
        except oauth_server.AccessRefused as exc:
            response = oauth_server.refusal_response(state, exc)
        else:
            account = accounts.account_by_did(did)
            response = JSONResponse({"did": did, "handle": account.handle if account else ""})
    await response(scope, receive, send)
