"""Sandbox admin API for the Facebook side, mounted by the server under /_sandbox/facebook.

JSON in, JSON out; errors are ``{"error": "..."}`` with 400/404. Not part of Graph:
volunteers and tests use it to set up Pages, look at what was posted and break things
(revoke tokens, block a Page, tighten rate limits).

- POST /pages {"name", "followers"?, "user_id"?, "category"?} -> {"page_id", "page_token",
  "user_id", "user_token", "name", "followers"} (creates the admin person when no user_id;
  the user token is long-lived and the Page token never expires, as after a real login)
- GET /pages -> {"pages": [...]}
- GET /pages/{id}/posts -> {"posts": [...]} every post, newest first, scheduled and
  unpublished ones included with flags, and current engagement
- POST /pages/{id}/block {"seconds"} -> posting gives code 368 for that long (protocol
  time: real seconds plus the clock's advances)
- POST /pages/{id}/followers {"followers"}
- POST /users {"name", "page"?} -> {"user_id", "user_token", "name"}; GET /users
- POST /revoke {"token", "reason"?: deauthorized|password_changed|logged_out} -> {"revoked": n}
- GET /limits, POST /limits {"page_calls": 10, ...} -> the limits in force
- GET /app -> {"app_id", "app_secret", "graph_version"}
- GET /insights, POST /insights {"retired": ["post_media_view"]} -> {"retired", "live"}:
  metrics Graph stops answering from now on (the invalid-metric error), as in a deprecation
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.graph.fields import POST_METRICS
from bot.sandbox.graph.model import iso_time
from bot.sandbox.graph.state import GraphState


def _state(request: Request) -> GraphState:
    # Every admin call may change state; mark it for the server's persistence up front.
    sandbox = request.app.state.sandbox
    if request.method != "GET" and hasattr(sandbox, "mark_dirty"):
        sandbox.mark_dirty()
    state: GraphState = sandbox.fb
    return state


def _fail(message: str, status: int = 400) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def create_page(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _body(request)
        page = state.create_page(
            str(body.get("name", "")),
            followers=int(body.get("followers", 100)),
            user_id=body.get("user_id"),
            category=str(body.get("category", "Community")),
        )
    except KeyError:
        return _fail("unknown user_id", 404)
    except (ValueError, TypeError) as exc:
        return _fail(str(exc))
    user_id = page.admins[0]
    user_token = state.issue_user_token(user_id, long_lived=True)
    page_token = state.page_token(user_token, page.id)
    return JSONResponse(
        {
            "page_id": page.id,
            "page_token": page_token.value,
            "user_id": user_id,
            "user_token": user_token.value,
            "name": page.name,
            "followers": page.followers,
        },
        status_code=201,
    )


async def list_pages(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"pages": [state.page_summary(p) for p in list(state.pages.values())]})


async def page_posts(request: Request) -> Response:
    state = _state(request)
    page_id = request.path_params["page_id"]
    if page_id not in state.pages:
        return _fail("unknown page", 404)
    now = state.now()
    posts = sorted(
        (p for p in list(state.posts.values()) if p.page_id == page_id),
        key=lambda p: (p.created_time, int(p.id.partition("_")[2])),
        reverse=True,
    )
    return JSONResponse(
        {
            "posts": [
                {
                    "id": p.id,
                    "text": p.message,
                    "link": p.link,
                    "created_at": iso_time(p.created_time),
                    "published": p.is_published(now),
                    "scheduled": p.scheduled,
                    "url": p.permalink,
                    "metrics": state.engagement(p),
                }
                for p in posts
            ]
        }
    )


async def block_page(request: Request) -> Response:
    state = _state(request)
    page_id = request.path_params["page_id"]
    if page_id not in state.pages:
        return _fail("unknown page", 404)
    try:
        seconds = float((await _body(request)).get("seconds", 3600))
    except (ValueError, TypeError) as exc:
        return _fail(str(exc))
    state.block_page(page_id, seconds)
    return JSONResponse(state.page_summary(state.pages[page_id]))


async def set_followers(request: Request) -> Response:
    state = _state(request)
    page = state.pages.get(request.path_params["page_id"])
    if page is None:
        return _fail("unknown page", 404)
    try:
        followers = int((await _body(request))["followers"])
    except (KeyError, ValueError, TypeError):
        return _fail("followers must be a number")
    if followers < 0:
        return _fail("followers must be >= 0")
    page.followers = followers
    return JSONResponse(state.page_summary(page))


async def create_user(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _body(request)
        user = state.create_user(str(body.get("name", "")))
    except (ValueError, TypeError) as exc:
        return _fail(str(exc))
    token = state.issue_user_token(user.id, long_lived=True)
    return JSONResponse(
        {"user_id": user.id, "user_token": token.value, "name": user.name}, status_code=201
    )


async def list_users(request: Request) -> Response:
    state = _state(request)
    users = [
        {"id": u.id, "name": u.name, "pages": [p.id for p in state.pages_of(u.id)]}
        for u in list(state.users.values())
    ]
    return JSONResponse({"users": users})


async def revoke(request: Request) -> Response:
    state = _state(request)
    try:
        body = await _body(request)
        count = state.revoke(str(body.get("token", "")), str(body.get("reason", "deauthorized")))
    except (ValueError, TypeError) as exc:
        return _fail(str(exc))
    if count == 0 and state.inspect(str(body.get("token", ""))) is None:
        return _fail("unknown token", 404)
    return JSONResponse({"revoked": count})


async def limits(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            state.limits.update(await _body(request))
        except (ValueError, TypeError) as exc:
            return _fail(str(exc))
        state.counters.reset()
    return JSONResponse(asdict(state.limits))


async def app_info(request: Request) -> Response:
    state = _state(request)
    return JSONResponse(
        {
            "app_id": state.app_id,
            "app_secret": state.app_secret,
            "graph_version": state.latest_version,
        }
    )


async def insights_metrics(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            retired = (await _body(request)).get("retired", [])
        except ValueError as exc:
            return _fail(str(exc))
        if not isinstance(retired, list) or not all(isinstance(m, str) for m in retired):
            return _fail("retired must be a list of metric names")
        unknown = sorted(set(retired) - set(POST_METRICS))
        if unknown:
            return _fail(f"unknown metric(s) {unknown}; the sandbox has {sorted(POST_METRICS)}")
        state.retired_metrics = set(retired)
    live = [m for m in POST_METRICS if m not in state.retired_metrics]
    return JSONResponse({"retired": sorted(state.retired_metrics), "live": live})


def routes() -> list[BaseRoute]:
    return [
        Route("/pages", create_page, methods=["POST"]),
        Route("/pages", list_pages, methods=["GET"]),
        Route("/pages/{page_id}/posts", page_posts, methods=["GET"]),
        Route("/pages/{page_id}/block", block_page, methods=["POST"]),
        Route("/pages/{page_id}/followers", set_followers, methods=["POST"]),
        Route("/users", create_user, methods=["POST"]),
        Route("/users", list_users, methods=["GET"]),
        Route("/revoke", revoke, methods=["POST"]),
        Route("/limits", limits, methods=["GET", "POST"]),
        Route("/app", app_info, methods=["GET"]),
        Route("/insights", insights_metrics, methods=["GET", "POST"]),
    ]
