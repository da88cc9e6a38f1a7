"""Graph API routes of the sandbox: every ``/v{N}.{M}/...`` path on the sandbox port.

facebook-sdk builds ``https://graph.facebook.com/`` + version + "/" + path, sends GET
parameters in the query and POST parameters as a form, and never looks at the HTTP
status: it raises only when the JSON body has an ``error`` key. So every answer here is
JSON in Graph's shapes, errors included (see graph_errors). Handlers read the state from
``request.app.state.sandbox.fb``. Login (``dialog/oauth``, ``oauth/access_token``,
``debug_token``) lives in fb_login; the admin API is in graph_admin.
"""

from __future__ import annotations

import json
import logging
import math
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.graph import admin as graph_admin
from bot.sandbox.graph import errors as errors
from bot.sandbox.graph import login as fb_login
from bot.sandbox.graph import reads as graph_reads
from bot.sandbox.graph.fields import (
    insights,
    render_page,
    render_post,
    render_user,
)
from bot.sandbox.graph.insights import page_insights
from bot.sandbox.graph.model import FbPost, Token
from bot.sandbox.graph.state import GraphState

logger = logging.getLogger(__name__)

MAX_IDS = 50  # per ?ids= lookup, since Graph v2.2
_VERSION = re.compile(r"v(\d+)\.(\d+)")


class GraphVersionConvertor(Convertor[str]):
    """Matches a Graph version path segment such as ``v25.0``."""

    regex = r"v[0-9]+\.[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("graphversion", GraphVersionConvertor())


def routes() -> list[BaseRoute]:
    methods = ["GET", "POST", "DELETE"]
    return [
        Route("/{version:graphversion}", graph_endpoint, methods=methods),
        Route("/{version:graphversion}/{rest:path}", graph_endpoint, methods=methods),
    ]


def admin_routes() -> list[BaseRoute]:
    return graph_admin.routes()


def mark_dirty(request: Request) -> None:
    """Tell the server's persistence (if any) that Graph state changed."""
    mark = getattr(request.app.state.sandbox, "mark_dirty", None)
    if mark is not None:
        mark()


def _state(request: Request) -> GraphState:
    state: GraphState = request.app.state.sandbox.fb
    return state


async def params_of(request: Request) -> dict[str, str]:
    """Query parameters, plus form fields for POST/DELETE (facebook-sdk posts forms)."""
    params = dict(request.query_params)
    if request.method in ("POST", "DELETE"):
        body = (await request.body()).decode("utf-8", "replace")
        content_type = request.headers.get("content-type", "")
        if body and "json" in content_type:
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            if isinstance(data, dict):
                params.update(
                    {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
                )
        elif body:
            params.update(dict(parse_qsl(body, keep_blank_values=True)))
    return params


def graph_json(
    state: GraphState,
    version: str,
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    all_headers = {"facebook-api-version": version, "x-fb-trace-id": errors.trace_id()[:12]}
    all_headers.update(headers or {})
    return JSONResponse(body, status_code=status, headers=all_headers)


def error_response(state: GraphState, version: str, error: errors.GraphError) -> Response:
    headers = dict(error.headers)
    if error.code == 190:
        # Graph's OAuth 2.0 bearer challenge on token errors.
        headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{error.message}"'
    return graph_json(state, version, error.body(), error.status, headers)


def _token_value(request: Request, params: dict[str, str]) -> str | None:
    if params.get("access_token"):
        return params["access_token"]
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value:
        return value.strip()
    return None


def check_version(state: GraphState, version: str) -> None:
    match = _VERSION.fullmatch(version)
    assert match is not None  # the route's convertor guarantees the shape
    major = int(match.group(1))
    latest = _VERSION.fullmatch(state.latest_version)
    if major < state.min_version:
        raise errors.deprecated_version(state.latest_version)
    if latest and major > int(latest.group(1)):
        raise errors.unknown_path(f"/{version}")


async def graph_endpoint(request: Request) -> Response:
    state = _state(request)
    version = request.path_params["version"]
    rest = request.path_params.get("rest", "").strip("/")
    headers: dict[str, str] = {}
    try:
        params = await params_of(request)
        segments = [s for s in rest.split("/") if s]
        if segments[:2] == ["dialog", "oauth"]:
            if request.method == "POST":
                mark_dirty(request)
            return await fb_login.dialog(request, state, version, params)
        check_version(state, version)
        if segments == ["oauth", "access_token"]:
            answer = fb_login.access_token(state, params)
            mark_dirty(request)
            return graph_json(state, version, answer)
        if segments == ["debug_token"]:
            return graph_json(state, version, fb_login.debug_token(state, params))
        value = _token_value(request, params)
        if not value:
            raise errors.no_token()
        token = state.validate(value)
        state.check_appsecret_proof(value, params.get("appsecret_proof"))
        headers = state.throttle(token)
        if request.method == "POST" and segments[1:2] == ["feed"]:
            _refuse_in_a_storm(request, token)
        body = _dispatch(state, request.method, version, segments, token, params)
        if request.method != "GET" or segments[-1:] == ["accounts"]:
            mark_dirty(request)  # a post, a deletion or a new Page token: persist it
        return graph_json(state, version, body, headers=headers)
    except errors.GraphError as error:
        # A refused call still counted: keep the usage headers Graph sends with it.
        error.headers = {**headers, **error.headers}
        return error_response(state, version, error)


def _refuse_in_a_storm(request: Request, token: Token) -> None:
    """During a 429 storm (``POST /_sandbox/storm``, platform facebook) every Page post is
    refused as Graph refuses a throttled Page: error #32 with the Page's usage at 100 %
    and the minutes until it regains access in X-Business-Use-Case-Usage
    (https://developers.facebook.com/docs/graph-api/overview/rate-limiting#headers-2)."""
    sandbox = request.app.state.sandbox
    # The Graph half served on its own (its tests) has no storms.
    storms: dict[str, float] = getattr(sandbox, "storm_until", {})
    if "facebook" not in storms:
        return
    left = storms["facebook"] - sandbox.clock.wall()
    if left <= 0:
        return
    page_id = token.page_id or "0"
    usage = {
        page_id: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 50,
                "total_time": 50,
                "estimated_time_to_regain_access": max(1, math.ceil(left / 60)),
            }
        ]
    }
    error = errors.page_limit()
    error.headers = {"X-Business-Use-Case-Usage": json.dumps(usage, separators=(",", ":"))}
    raise error


def _dispatch(
    state: GraphState,
    method: str,
    version: str,
    segments: list[str],
    token: Token,
    params: dict[str, str],
) -> Any:
    if not segments:
        if params.get("ids") and method == "GET":
            return _multi_id(state, version, token, params)
        raise errors.unknown_path(f"/{version}/")
    node_id = token.subject_id if segments[0] == "me" else segments[0]
    if node_id is None:
        raise errors.no_such_object(segments[0], method)
    edge = segments[1] if len(segments) > 1 else None
    if len(segments) > 2:
        raise errors.unknown_path("/" + "/".join(segments[2:]))
    post = state.get_post(node_id)
    page = state.pages.get(node_id)
    user = state.users.get(node_id)
    fields = params.get("fields")
    if edge is None:
        if method == "DELETE":
            return _delete(state, node_id, post, token)
        if method != "GET":
            raise errors.no_such_object(node_id, method)
        if post is not None:
            graph_reads.require_read(state, post.page_id, token)
            return render_post(
                post,
                state.pages.get(post.page_id),
                lambda: state.engagement(post),
                state.now(),
                fields,
                graph_reads.insights_reader(state, post, token),
                state.pages.get,
            )
        if page is not None:
            own = token.kind == "page" and token.page_id == page.id
            return render_page(page, fields, token.value if own else None)
        if user is not None:
            return render_user(user, fields)
        raise errors.no_such_object(node_id, method)
    if page is not None and edge == "scheduled_posts" and method == "GET":
        if not (token.kind == "page" and token.page_id == page.id):
            # https://developers.facebook.com/docs/graph-api/reference/page/scheduled_posts/
            raise errors.GraphError(
                "(#190) This method must be called with a Page Access Token", code=190
            )
        return graph_reads.list_feed(state, version, page.id, edge, token, params)
    if page is not None and edge in ("feed", "posts", "published_posts"):
        if method == "POST" and edge == "feed":
            return _publish(state, page.id, token, params)
        if method == "GET":
            return graph_reads.list_feed(state, version, page.id, edge, token, params)
    if page is not None and edge == "insights" and method == "GET":
        graph_reads.require_page_access(state, page.id, token)
        posts = state.feed(page.id, since=None, until=None)
        return page_insights(
            page, posts, state.engagement, state.now(), params, graph_reads.timestamp
        )
    if post is not None and edge == "insights" and method == "GET":
        graph_reads.require_page_access(state, post.page_id, token)
        return insights(post, state.engagement(post), params.get("metric"), state.retired_metrics)
    if user is not None and edge == "accounts" and method == "GET":
        return graph_reads.accounts(state, token, params)
    if post is None and page is None and user is None:
        raise errors.no_such_object(node_id, method)
    node_type = "PagePost" if post else "Page" if page else "User"
    if method == "GET":
        raise errors.nonexisting_field(edge, node_type)
    raise errors.unknown_path(f"/{edge}")


def _multi_id(state: GraphState, version: str, token: Token, params: dict[str, str]) -> Any:
    """GET /v{N}/?ids=a,b (facebook-sdk's get_objects): each node by id, keyed by id.

    As on Graph (https://developers.facebook.com/docs/graph-api/guides/field-expansion,
    "multiple ID read requests"): at most 50 ids; the same ``fields`` for every node; one
    id that fails fails the whole call. Ids that do not exist (any more) are all named in
    one #803 error; any other failure (e.g. another Page's post) is that node's error.
    """
    ids = list(dict.fromkeys(i.strip() for i in params["ids"].split(",") if i.strip()))
    if len(ids) > MAX_IDS:
        raise errors.too_many_ids(len(ids), MAX_IDS)
    answer: dict[str, Any] = {}
    missing: list[str] = []
    for node in ids:
        try:
            answer[node] = _dispatch(state, "GET", version, [node], token, params)
        except errors.GraphError as error:
            if error.code != 100 or error.subcode != 33:
                raise
            missing.append(node)
    if missing:
        raise errors.aliases_not_found(missing)
    return answer


def _truthy(raw: str | None, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    return raw.strip().lower() not in ("false", "0", "no")


def _publish(state: GraphState, page_id: str, token: Token, params: dict[str, str]) -> Any:
    if not (
        token.kind == "page" and token.page_id == page_id and "pages_manage_posts" in token.scopes
    ):
        raise errors.page_post_permission()
    scheduled = graph_reads.timestamp(
        "scheduled_publish_time", params.get("scheduled_publish_time")
    )
    post = state.publish(
        page_id,
        message=params.get("message", ""),
        link=params.get("link") or None,
        published=_truthy(params.get("published"), True),
        scheduled_publish_time=scheduled,
    )
    return {"id": post.id}


def _delete(state: GraphState, node_id: str, post: FbPost | None, token: Token) -> Any:
    if post is None:
        raise errors.no_such_object(node_id, "DELETE")
    if not (token.kind == "page" and token.page_id == post.page_id):
        raise errors.permission()
    state.delete_post(post.id)
    return {"success": True}
