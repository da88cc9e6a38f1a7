"""X API v2 on raw ASGI: the sandbox's hot path (signed POST /2/tweets).

Dispatched by hand rather than through Starlette's router and Request/Response objects,
which cost more than the whole handler at thousands of posts a second.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import twitter_text

from bot.sandbox.ratelimit import Window
from bot.sandbox.x import params as x_params
from bot.sandbox.x import reads as x_reads
from bot.sandbox.x import render as r
from bot.sandbox.x.oauth1 import OAuthFailure, parse_header, verify
from bot.sandbox.x.render import Caller, Reply

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from bot.sandbox.state import SandboxState
    from bot.sandbox.x.state import XUser

logger = logging.getLogger(__name__)

MAX_WEIGHTED_LENGTH = 280  # twitter-text config v3
_USER_TWEETS = re.compile(r"/2/users/([0-9]+)/tweets")
_NUMERIC = re.compile(r"[0-9]{1,19}")
_JSON = b"application/json; charset=utf-8"


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    chunks = [body]
    while message.get("more_body"):
        message = await receive()
        chunks.append(message.get("body", b""))
    return b"".join(chunks)


def _limits(state: SandboxState, method: str, path: str) -> tuple[str, int, int, int]:
    """(bucket, per-user limit, per-app limit, window) for a route, from the options."""
    lim = state.options.rate_limits
    if path == "/2/tweets" and method == "POST":
        return "post", lim.x_posts_per_user, lim.x_posts_per_app, lim.x_posts_user_window_s
    if method == "DELETE":
        return "delete", lim.x_deletes_per_user, lim.x_deletes_per_user, 900
    if path == "/2/users/me":
        return "me", lim.x_me_per_user, lim.x_me_per_user, 900
    if path.startswith("/2/users/"):
        return "timeline", lim.x_timeline_per_user, lim.x_timeline_per_app, 900
    return "read", lim.x_reads_per_user, lim.x_reads_per_app, lim.x_reads_window_s


def peek_headers(state: SandboxState, method: str, path: str) -> list[tuple[bytes, bytes]]:
    """Rate-limit headers for answers given before the caller is known (401, faults)."""
    bucket, _, app_limit, window_s = _limits(state, method, path)
    return _window_headers(state.limiter.peek(bucket + "_app", "app", app_limit, window_s))


def _window_headers(window: Window) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-rate-limit-limit", str(window.limit).encode()),
        (b"x-rate-limit-remaining", str(window.remaining).encode()),
        (b"x-rate-limit-reset", str(window.reset).encode()),
    ]


async def _respond(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers.append((b"content-type", _JSON))
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _authenticate(
    state: SandboxState, scope: Scope, headers: dict[bytes, bytes], body: bytes
) -> Caller:
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    if authorization.startswith("Bearer "):
        if authorization[7:] == state.options.bearer_token:
            return Caller(None)
        raise OAuthFailure("unknown bearer token")
    request = parse_header(authorization)
    if request.consumer_key != state.options.consumer_key or not request.token:
        raise OAuthFailure("unknown consumer key or no token")
    found = state.x.user_for_token(request.token)
    if found is None:
        raise OAuthFailure("unknown or revoked token")
    form = None
    if headers.get(b"content-type", b"").startswith(b"application/x-www-form-urlencoded"):
        form = body.decode("utf-8", "replace")
    origin = verify(
        request,
        method=scope["method"],
        path=scope.get("raw_path", b"").decode("latin-1") or scope["path"],
        query=scope["query_string"].decode("latin-1"),
        form_body=form,
        consumer_secret=state.options.consumer_secret,
        token_secret=found[1].secret,
        now=state.clock.wall(),
    )
    return Caller(found[0], origin)


async def handle(state: SandboxState, scope: Scope, receive: Receive, send: Send) -> None:
    method: str = scope["method"]
    path: str = scope["path"]
    body = await read_body(receive)
    headers = dict(scope["headers"])
    try:
        caller = _authenticate(state, scope, headers, body)
    except OAuthFailure as failure:
        logger.info("401 for %s %s: %s", method, path, failure.reason)
        await _respond(send, 401, r.UNAUTHORIZED, peek_headers(state, method, path))
        return
    extra: list[tuple[bytes, bytes]] = []
    try:
        window = _count(state, caller, method, path, extra)
        status, result = _route(state, caller, method, path, scope, body, extra)
    except Reply as reply:
        window = reply.window or state.limiter.peek(*_peek_args(state, caller, method, path))
        body = r.for_origin(reply.body, caller.origin)
        await _respond(send, reply.status, body, _window_headers(window) + extra)
        return
    await _respond(
        send, status, r.for_origin(result, caller.origin), _window_headers(window) + extra
    )


def _peek_args(
    state: SandboxState, caller: Caller, method: str, path: str
) -> tuple[str, str, int, int]:
    bucket, user_limit, app_limit, window_s = _limits(state, method, path)
    if caller.user is None:
        return bucket + "_app", "app", app_limit, window_s
    return bucket, caller.user.id, user_limit, window_s


def _count(
    state: SandboxState,
    caller: Caller,
    method: str,
    path: str,
    extra: list[tuple[bytes, bytes]],
) -> Window:
    """Count the request against its windows; raise a 429 Reply when one is spent."""
    bucket, user_limit, app_limit, window_s = _limits(state, method, path)
    limiter = state.limiter
    wall = state.clock.wall()
    if caller.user is None and bucket in ("post", "delete", "me"):
        raise Reply(403, r.APP_ONLY_FORBIDDEN)
    if bucket == "post":
        storm_end = state.storm_until.get("x", 0.0)
        if storm_end > wall:
            window = Window(user_limit, 0, int(storm_end) + 1)
            raise Reply(429, r.TOO_MANY, window)
        lim = state.options.rate_limits
        assert caller.user is not None  # app-only callers were refused just above
        ok, window = limiter.hit("post", caller.user.id, user_limit, window_s, wall)
        if not ok:
            raise Reply(429, r.TOO_MANY, window)
        ok, app_window = limiter.hit("post_app", "app", app_limit, lim.x_posts_app_window_s, wall)
        # X reports the app's 24-hour posting budget in its own headers.
        extra.extend(
            [
                (b"x-app-limit-24hour-limit", str(app_window.limit).encode()),
                (b"x-app-limit-24hour-remaining", str(app_window.remaining).encode()),
                (b"x-app-limit-24hour-reset", str(app_window.reset).encode()),
            ]
        )
        if not ok:
            limiter.refund("post", caller.user.id)
            raise Reply(429, r.TOO_MANY, Window(app_window.limit, 0, app_window.reset))
        return window
    if caller.user is None:
        ok, window = limiter.hit(bucket + "_app", "app", app_limit, window_s, wall)
    else:
        ok, window = limiter.hit(bucket, caller.user.id, user_limit, window_s, wall)
    if not ok:
        raise Reply(429, r.TOO_MANY, window)
    return window


def _route(
    state: SandboxState,
    caller: Caller,
    method: str,
    path: str,
    scope: Scope,
    body: bytes,
    extra: list[tuple[bytes, bytes]],
) -> tuple[int, Any]:
    raw_query = scope["query_string"]
    pairs = parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True) if raw_query else []
    route = _params_of(method, path)
    if pairs and route is not None:
        errors = x_params.problems(route, pairs)
        if errors:
            raise Reply(400, r.invalid_request_for(errors))
    query = dict(pairs)
    if path == "/2/tweets":
        if method == "POST":
            return _create(state, caller, body, extra)
        if method == "GET":
            return 200, x_reads.lookup_many(state, caller, query)
    elif path.startswith("/2/tweets/"):
        tweet_id = path[len("/2/tweets/") :]
        if _NUMERIC.fullmatch(tweet_id):
            if method == "DELETE":
                return _delete(state, _user(caller), tweet_id)
            if method == "GET":
                return 200, x_reads.lookup_one(state, caller, tweet_id, query)
    elif path == "/2/users/me" and method == "GET":
        user = _user(caller)
        return 200, {"data": r.render_user(state, user, r.split_fields(query.get("user.fields")))}
    elif method == "GET" and (match := _USER_TWEETS.fullmatch(path)):
        return 200, x_reads.user_tweets(state, caller, match.group(1), query)
    raise Reply(404, r.NOT_FOUND_ROUTE)


def _params_of(method: str, path: str) -> x_params.Route | None:
    """The query parameters the route takes (None: no such route; 404 follows)."""
    if method in ("POST", "DELETE"):
        return x_params.NO_QUERY
    if path == "/2/tweets":
        return x_params.POST_LOOKUP
    if path == "/2/users/me":
        return x_params.ME
    if path.startswith("/2/tweets/"):
        return x_params.POST_BY_ID
    if _USER_TWEETS.fullmatch(path):
        return x_params.TIMELINE
    return None


def _user(caller: Caller) -> XUser:
    if caller.user is None:
        raise Reply(403, r.APP_ONLY_FORBIDDEN)
    return caller.user


def _create(
    state: SandboxState, caller: Caller, body: bytes, extra: list[tuple[bytes, bytes]]
) -> tuple[int, Any]:
    user = _user(caller)
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise Reply(400, r.invalid_request("Request body is not valid JSON.", "body", "")) from None
    if not isinstance(payload, dict):
        raise Reply(400, r.invalid_request("Request body must be an object.", "body", ""))
    unknown = x_params.body_problems(payload)
    if unknown:
        raise Reply(400, r.invalid_request_for(unknown))
    text = payload.get("text")
    media_ids = (payload.get("media") or {}).get("media_ids") or []
    if text is None and not media_ids:
        raise Reply(400, r.invalid_request("$.text: is missing but it is required", "$.text", ""))
    if text is not None and not isinstance(text, str):
        raise Reply(400, r.invalid_request("$.text: must be a string", "$.text", text))
    text = text or ""
    if not all(isinstance(m, str) and _NUMERIC.fullmatch(m) for m in media_ids):
        raise Reply(
            400, r.invalid_request("$.media.media_ids: must be numeric strings", "$.media", "")
        )
    weighted = excess_length(text)
    if weighted is not None:
        # The exact wording is not recorded; the shape is X's invalid-request problem.
        message = f"$.text: text is too long (weighted length {weighted}, maximum 280)"
        raise Reply(400, r.invalid_request(message, "$.text", text))
    parent = None
    reply = payload.get("reply")
    if reply is not None:
        parent_id = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(parent_id, str) or not _NUMERIC.fullmatch(parent_id):
            message = "$.reply.in_reply_to_tweet_id: is missing but it is required"
            raise Reply(400, r.invalid_request(message, "$.reply", json.dumps(reply)))
        parent = state.x.live_tweet(parent_id)
        if parent is None:
            raise Reply(403, r.REPLY_TARGET_GONE)
    if state.x.duplicate_of(user.id, text, state.options.duplicate_window_s):
        raise Reply(403, r.DUPLICATE)
    cap = state.options.rate_limits.x_monthly_post_cap
    year, month_number = time.gmtime(state.clock.time())[:2]
    month = f"{year}-{month_number:02d}"
    if cap is not None and state.x.posts_this_month.get(month, 0) >= cap:
        raise Reply(429, r.usage_capped())
    tweet = state.x.create_tweet(user.id, text, parent, media_ids)
    state.x.posts_this_month[month] = state.x.posts_this_month.get(month, 0) + 1
    state.mark_dirty()
    # On the host the request was signed for, like the recorded api.twitter.com one.
    extra.append((b"location", f"{caller.origin}/2/tweets/{tweet.id}".encode()))
    # Create answers carry id and text only: no edit_history_tweet_ids (as recorded).
    return 201, {"data": {"id": tweet.id, "text": tweet.shown}}


def excess_length(text: str) -> int | None:
    """X's weighted length (twitter-text config v3) when it is over 280, else None.

    The pure-Python parser costs ~0.5 ms a post, more than the rest of the request, so
    it runs only when the answer could be "too long": no code point weighs more than 2
    and each URL, which needs a dot, counts 23.
    """
    if 2 * len(text) + 23 * text.count(".") <= MAX_WEIGHTED_LENGTH:
        return None
    weighted = int(twitter_text.parse_tweet(text).weightedLength)
    return weighted if weighted > MAX_WEIGHTED_LENGTH else None


def _delete(state: SandboxState, user: XUser, tweet_id: str) -> tuple[int, Any]:
    tweet = state.x.live_tweet(tweet_id)
    if tweet is None:
        # Not recorded; we answer as for an already-deleted post.
        return 200, {"data": {"deleted": False}}
    if tweet.author_id != user.id:
        raise Reply(403, r.NOT_AUTHOR)
    state.x.delete_tweet(tweet_id)
    state.mark_dirty()
    return 200, {"data": {"deleted": True}}
