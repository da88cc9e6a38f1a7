"""The Bluesky stand-in's part of the admin API, under /_sandbox/bluesky/.

Make accounts (with an app password), hand out a ready session for tests, revoke
sessions, set a post's engagement, and tighten the limits (access-token lifetime, write
points per hour; the OAuth access tokens' lifetime, for all or some accounts) to rehearse
refreshes and 429s. Faults, latency and scripted answers
are the sandbox's own (``platform: "bluesky"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from bot.sandbox.bluesky.state import PDS_URL, BlueskyAccount, BlueskySandbox

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState


def _sandbox(request: Request) -> BlueskySandbox:
    state: SandboxState = request.app.state.sandbox
    return state.bluesky


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = await request.json() if raw else {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _account(account: BlueskyAccount) -> dict[str, Any]:
    return {
        "did": account.did,
        "handle": account.handle,
        "password": account.password,
        "display_name": account.display_name,
        "followers": account.followers,
        "pds_url": PDS_URL,
    }


def _found(sandbox: BlueskySandbox, request: Request) -> BlueskyAccount:
    account = sandbox.account_for(request.path_params["actor"])
    if account is None:
        raise LookupError(f"no Bluesky account {request.path_params['actor']!r}")
    return account


def _guarded(handler: Any) -> Any:
    async def wrapped(request: Request) -> JSONResponse:
        try:
            result = await handler(request)
        except LookupError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        except (ValueError, TypeError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return result if isinstance(result, JSONResponse) else JSONResponse(result)

    return wrapped


async def accounts(request: Request) -> Any:
    sandbox = _sandbox(request)
    if request.method == "POST":
        data = await _body(request)
        account = sandbox.create_account(
            str(data["handle"]),
            password=data.get("password"),
            display_name=str(data.get("display_name") or ""),
            followers=int(data.get("followers", 100)),
        )
        request.app.state.sandbox.mark_dirty()
        return JSONResponse(_account(account), 201)
    return [_account(a) for a in list(sandbox.accounts.values())]


async def session(request: Request) -> dict[str, Any]:
    """A fresh app-password session, in the shape Clarion seals (``credentials.pack``)."""
    sandbox = _sandbox(request)
    account = _found(sandbox, request)
    made = sandbox.new_session(account.did)
    return {
        "did": account.did,
        "handle": account.handle,
        "pds_url": PDS_URL,
        "auth": "app_password",
        "access_token": made["accessJwt"],
        "refresh_token": made["refreshJwt"],
    }


async def revoke(request: Request) -> dict[str, Any]:
    sandbox = _sandbox(request)
    return {"revoked": sandbox.revoke(_found(sandbox, request).did)}


async def posts(request: Request) -> list[dict[str, Any]]:
    sandbox = _sandbox(request)
    account = _found(sandbox, request)
    return [sandbox.post_view(r) for r in sandbox.posts_of(account.did)]


async def counts(request: Request) -> dict[str, Any]:
    sandbox = _sandbox(request)
    data = await _body(request)
    record = sandbox.set_counts(str(data["uri"]), dict(data.get("counts") or {}))
    return sandbox.post_view(record)


async def delete(request: Request) -> dict[str, Any]:
    """The author deleted a post (the AppView stops showing it)."""
    data = await _body(request)
    if not _sandbox(request).delete(str(data["uri"])):
        raise LookupError(f"no post {data['uri']!r}")
    return {"deleted": data["uri"]}


async def limits(request: Request) -> dict[str, Any]:
    sandbox = _sandbox(request)
    if request.method == "POST":
        data = await _body(request)
        if "access_lifetime_s" in data:
            sandbox.access_lifetime_s = float(data["access_lifetime_s"])
        if "write_points_per_hour" in data:
            sandbox.write_points_per_hour = int(data["write_points_per_hour"])
        if data.get("reset_counters"):
            sandbox.points.clear()
    return {
        "access_lifetime_s": sandbox.access_lifetime_s,
        "write_points_per_hour": sandbox.write_points_per_hour,
        "writes": sandbox.writes,
    }


async def oauth(request: Request) -> dict[str, Any]:
    """The authorization server's knobs: ``access_lifetime_s`` for the access tokens it
    issues from now on (to every account, or only to ``dids``), and what it holds: each
    DID's unspent refresh tokens."""
    state = request.app.state.sandbox.bluesky_oauth
    if request.method == "POST":
        data = await _body(request)
        if "access_lifetime_s" in data:
            seconds = float(data["access_lifetime_s"])
            dids = data.get("dids")
            with state.lock:
                if dids is None:
                    state.access_seconds = seconds
                else:
                    state.access_seconds_by_did.update({str(d): seconds for d in dids})
    return {
        "access_lifetime_s": state.access_seconds,
        "access_lifetime_s_by_did": dict(state.access_seconds_by_did),
        "refresh_tokens": state.live_refresh_tokens(),
    }


def routes() -> list[BaseRoute]:
    return [
        Route("/accounts", _guarded(accounts), methods=["GET", "POST"]),
        Route("/accounts/{actor}/session", _guarded(session), methods=["POST"]),
        Route("/accounts/{actor}/revoke", _guarded(revoke), methods=["POST"]),
        Route("/accounts/{actor}/posts", _guarded(posts), methods=["GET"]),
        Route("/counts", _guarded(counts), methods=["POST"]),
        Route("/delete", _guarded(delete), methods=["POST"]),
        Route("/limits", _guarded(limits), methods=["GET", "POST"]),
        Route("/oauth", _guarded(oauth), methods=["GET", "POST"]),
    ]
