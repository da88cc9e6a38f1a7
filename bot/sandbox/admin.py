"""The sandbox's own JSON admin API under /_sandbox/ (not part of any platform's API).

Tests, demos and volunteers use it to set up accounts and to inject trouble at run time.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.sandbox import page, seed
from bot.sandbox.admin_guard import AdminGuard
from bot.sandbox.bluesky import admin as bluesky_admin
from bot.sandbox.options import PLATFORMS

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

logger = logging.getLogger(__name__)


class AdminError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _state(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise AdminError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise AdminError("body must be a JSON object")
    return data


def _platform(value: Any) -> str:
    if value not in PLATFORMS:
        raise AdminError(f"platform must be one of {list(PLATFORMS)}")
    return str(value)


def endpoint(handler: Any) -> Any:
    async def wrapped(request: Request) -> Response:
        try:
            result = await handler(request)
        except AdminError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return result if isinstance(result, Response) else JSONResponse(result)

    return wrapped


async def app_info(request: Request) -> dict[str, Any]:
    state = _state(request)
    o = state.options
    return {
        "base_url": state.base_url,
        "page_url": state.base_url + "/_sandbox/",
        "consumer_key": o.consumer_key,
        "consumer_secret": o.consumer_secret,
        "bearer_token": o.bearer_token,
        "fb_app_id": o.fb_app_id,
        "fb_app_secret": o.fb_app_secret,
        "facebook": state.fb is not None,
    }


def _user_json(state: SandboxState, user_id: str, with_token: bool) -> dict[str, Any]:
    user = state.x.users[user_id]
    result: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "name": user.name,
        "followers": user.followers,
    }
    if with_token:
        token = state.x.active_token(user.id)
        result["access_token"] = token.token
        result["access_token_secret"] = token.secret
    return result


async def create_x_user(request: Request) -> Response:
    state = _state(request)
    data = await _json(request)
    user = state.x.create_user(
        str(data.get("handle", "")), int(data.get("followers", 100)), data.get("name")
    )
    state.mark_dirty()
    return JSONResponse(_user_json(state, user.id, with_token=True), 201)


async def list_x_users(request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    return [_user_json(state, uid, with_token=False) for uid in list(state.x.users)]


async def x_user_credentials(request: Request) -> dict[str, Any]:
    state = _state(request)
    user_id = request.path_params["user_id"]
    if user_id not in state.x.users:
        raise AdminError("no such user", 404)
    if request.method == "POST":  # a fresh token, as when the user authorises again
        state.x.issue_token(user_id)
        state.mark_dirty()
    return _user_json(state, user_id, with_token=True)


async def posts(request: Request) -> list[dict[str, Any]]:
    state = _state(request)
    platform = _platform(request.query_params.get("platform", "x"))
    account_id = request.query_params.get("account_id", "")
    if platform == "x":
        if account_id not in state.x.users:
            raise AdminError("no such X user", 404)
        include_deleted = request.query_params.get("include_deleted") == "1"
        return [
            {
                "id": t.id,
                "author_id": t.author_id,
                "text": t.text,
                "shown": t.shown,  # as X's API returns it
                "created_at": page.iso(t.created_at),
                "reply_to": t.reply_to,
                "media_ids": t.media_ids,
                "deleted": t.deleted,
            }
            for t in state.x.timeline(account_id, include_deleted=include_deleted)
        ]
    if state.fb is None:
        raise AdminError("the Facebook part is not available", 501)
    for account in state.fb.timeline():
        if str(account["id"]) == account_id:
            return list(account["posts"])
    raise AdminError("no such Facebook page", 404)


async def revoke(request: Request) -> dict[str, Any]:
    state = _state(request)
    data = await _json(request)
    platform = _platform(data.get("platform"))
    token = str(data.get("token", ""))
    if platform == "x":
        found = state.x.revoke(token)
    else:
        revoke_fb = getattr(state.fb, "revoke", None)
        if revoke_fb is None:
            raise AdminError("the Facebook part cannot revoke tokens", 501)
        found = bool(revoke_fb(token))
    if not found:
        raise AdminError("unknown token", 404)
    state.mark_dirty()
    return {"revoked": True}


async def faults(request: Request) -> dict[str, Any]:
    state = _state(request)
    if request.method == "POST":
        data = await _json(request)
        platform = _platform(data.pop("platform", None))
        state.faults[platform].update(**data)
    return {p: vars(config) for p, config in state.faults.items()}


async def latency(request: Request) -> dict[str, Any]:
    state = _state(request)
    data = await _json(request)
    changes: dict[str, Any] = {"latency_ms": data.get("ms", 0)}
    if "distribution" in data:
        changes["latency_distribution"] = data["distribution"]
    targets = [_platform(data["platform"])] if data.get("platform") else list(PLATFORMS)
    for platform in targets:
        state.faults[platform].update(**changes)
    return {p: vars(config) for p, config in state.faults.items()}


async def rate_limits(request: Request) -> dict[str, Any]:
    state = _state(request)
    if request.method == "POST":
        data = await _json(request)
        reset_counters = bool(data.pop("reset_counters", False))
        state.options.rate_limits.update(**data)
        if reset_counters:
            state.limiter.clear()
    return vars(state.options.rate_limits)


async def storm(request: Request) -> dict[str, Any]:
    """A 429 storm: every post to the platform (X or a Facebook Page) is refused for
    ``seconds``, with the rate-limit headers saying when it ends."""
    state = _state(request)
    data = await _json(request)
    platform = _platform(data.get("platform", "x"))
    seconds = float(data.get("seconds", 60))
    state.storm_until[platform] = state.clock.wall() + seconds
    return {"platform": platform, "until": state.storm_until[platform]}


async def doors(request: Request) -> dict[str, Any]:
    """Each platform's door: its own port in front of the sandbox (bot/sandbox/doors.py).
    POST {"platform"} opens that platform's door; every call lists the doors."""
    state = _state(request)
    if request.method == "POST":
        data = await _json(request)
        await state.doors.door(_platform(data.get("platform")))
    return state.doors.describe()


async def outage(request: Request) -> dict[str, Any]:
    """Take a platform down for ``seconds``: its door refuses new connections and cuts
    the open ones, then opens again (``seconds`` 0: up again now). Only clients that
    reach the platform through its door see it; the sandbox's own port stays up."""
    state = _state(request)
    data = await _json(request)
    platform = _platform(data.get("platform"))
    seconds = float(data.get("seconds", 60))
    if not 0 <= seconds <= 24 * 3600:
        raise AdminError("seconds must be between 0 and 86400")
    door = await state.doors.door(platform)
    if seconds:
        await door.shut(seconds)
    else:
        await door.up()
    return {"platform": platform, "url": door.url, "down_until": door.down_until}


async def script(request: Request) -> Any:
    state = _state(request)
    if request.method == "POST":
        data = await _json(request)
        added = state.scripts.add(
            _platform(data.get("platform")),
            str(data.get("method", "*")),
            str(data.get("path_regex", "")),
            list(data.get("responses") or []),
        )
        return JSONResponse(added.describe(), 201)
    if request.method == "DELETE":
        state.scripts.clear()
    return state.scripts.list()


async def reset(request: Request) -> dict[str, Any]:
    state = _state(request)
    state.reset()
    await state.doors.all_up()
    return {"reset": True}


async def clock(request: Request) -> dict[str, Any]:
    state = _state(request)
    if request.method == "POST":
        data = await _json(request)
        try:
            if "advance_seconds" in data:
                state.clock.advance(float(data["advance_seconds"]))
            if "acceleration" in data:
                state.clock.set_acceleration(float(data["acceleration"]))
        except (TypeError, ValueError) as exc:
            raise AdminError(str(exc)) from exc
        state.mark_dirty()
    clock = state.clock
    now = clock.time()
    engagement_now = clock.engagement_time(now)
    # "now"/"timestamp": protocol time, the time posts are stamped with and filters use.
    # "engagement_*": the accelerated clock metrics are computed on.
    return {
        "now": page.iso(now),
        "timestamp": now,
        "acceleration": clock.acceleration,
        "advanced_seconds": clock.advanced,
        "engagement_now": page.iso(engagement_now),
        "engagement_timestamp": engagement_now,
    }


async def stats(request: Request) -> dict[str, Any]:
    """Requests held at once on the fault path (latency, scripts); reset by POST."""
    state = _state(request)
    result = {"in_flight": state.in_flight, "peak_in_flight": state.peak_in_flight}
    if request.method == "POST":
        state.peak_in_flight = state.in_flight
    return result


async def timeline(request: Request) -> list[dict[str, Any]]:
    return _state(request).timeline()


def _facebook_admin_routes() -> list[BaseRoute]:
    try:
        module = importlib.import_module("bot.sandbox.graph.api")
    except ImportError:
        return []
    return [Mount("/facebook", routes=module.admin_routes())]


def _mastodon_admin_routes() -> list[BaseRoute]:
    from bot.sandbox.mastodon import service

    return [Mount("/mastodon", routes=service.admin_routes())]


def routes() -> list[BaseRoute]:
    return [
        Mount(
            "/_sandbox",
            routes=[
                Route("/", page.timeline_page, methods=["GET"]),
                Route("/app", endpoint(app_info), methods=["GET"]),
                Route("/timeline", endpoint(timeline), methods=["GET"]),
                Route("/x/users", endpoint(create_x_user), methods=["POST"]),
                Route("/x/users", endpoint(list_x_users), methods=["GET"]),
                Route(
                    "/x/users/{user_id}/credentials",
                    endpoint(x_user_credentials),
                    methods=["GET", "POST"],
                ),
                Route("/posts", endpoint(posts), methods=["GET"]),
                Route("/revoke", endpoint(revoke), methods=["POST"]),
                Route("/faults", endpoint(faults), methods=["GET", "POST"]),
                Route("/latency", endpoint(latency), methods=["POST"]),
                Route("/rate-limits", endpoint(rate_limits), methods=["GET", "POST"]),
                Route("/storm", endpoint(storm), methods=["POST"]),
                Route("/doors", endpoint(doors), methods=["GET", "POST"]),
                Route("/outage", endpoint(outage), methods=["POST"]),
                Route("/script", endpoint(script), methods=["GET", "POST", "DELETE"]),
                Route("/reset", endpoint(reset), methods=["POST"]),
                Route("/clock", endpoint(clock), methods=["GET", "POST"]),
                Route("/stats", endpoint(stats), methods=["GET", "POST"]),
                *_facebook_admin_routes(),
                Mount("/bluesky", routes=bluesky_admin.routes()),
                *_mastodon_admin_routes(),
                *seed.routes(),  # bulk seeding for bench/engagement.py
            ],
            middleware=[Middleware(AdminGuard)],
        )
    ]
