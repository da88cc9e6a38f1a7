"""X API v2 reads: post lookups and a user's timeline (newest first, paginated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.sandbox.x import render as r
from bot.sandbox.x.render import Caller, Reply

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

_NUMERIC_CHARS = frozenset("0123456789")


def _numeric(value: str) -> bool:
    return 0 < len(value) <= 19 and set(value) <= _NUMERIC_CHARS


def lookup_one(
    state: SandboxState, caller: Caller, tweet_id: str, query: dict[str, str]
) -> dict[str, Any]:
    tweet = state.x.live_tweet(tweet_id)
    if tweet is None:
        return {"errors": [r.not_found("tweet", "id", tweet_id)]}
    errors: list[dict[str, Any]] = []
    fields = r.split_fields(query.get("tweet.fields"))
    viewer = caller.user.id if caller.user else None
    result: dict[str, Any] = {"data": r.render_tweet(state, tweet, fields, viewer, errors)}
    if errors:
        result["errors"] = errors
    return result


def lookup_many(state: SandboxState, caller: Caller, query: dict[str, str]) -> dict[str, Any]:
    ids = [i for i in query.get("ids", "").split(",") if i]
    if not 1 <= len(ids) <= 100:
        message = (
            f"The number of values in the `ids` query parameter list [{len(ids)}]"
            " is not between 1 and 100"
        )
        raise Reply(400, r.invalid_request(message, "ids", query.get("ids", "")))
    for tweet_id in ids:
        if not _numeric(tweet_id):
            message = f"The `ids` query parameter value [{tweet_id}] is not valid"
            raise Reply(400, r.invalid_request(message, "ids", tweet_id))
    fields = r.split_fields(query.get("tweet.fields"))
    viewer = caller.user.id if caller.user else None
    data: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for tweet_id in ids:
        tweet = state.x.live_tweet(tweet_id)
        if tweet is None:
            errors.append(r.not_found("tweet", "ids", tweet_id))
        else:
            data.append(r.render_tweet(state, tweet, fields, viewer, errors))
    result: dict[str, Any] = {}
    if data:
        result["data"] = data
    if errors:
        result["errors"] = errors
    return result


def user_tweets(
    state: SandboxState, caller: Caller, user_id: str, query: dict[str, str]
) -> dict[str, Any]:
    if user_id not in state.x.users:
        return {"errors": [r.not_found("user", "id", user_id)]}
    try:
        max_results = int(query.get("max_results", "10"))
    except ValueError:
        max_results = -1
    if not 5 <= max_results <= 100:
        message = (
            f"The `max_results` query parameter value [{query.get('max_results')}]"
            " is not between 5 and 100"
        )
        raise Reply(400, r.invalid_request(message, "max_results", query.get("max_results")))
    try:
        start = r.parse_iso(query["start_time"]) if "start_time" in query else None
        end = r.parse_iso(query["end_time"]) if "end_time" in query else None
    except ValueError:
        message = "start_time and end_time must be RFC 3339 times, e.g. 2026-01-01T00:00:00Z"
        raise Reply(400, r.invalid_request(message, "start_time", "")) from None
    before = _decode_token(query.get("pagination_token"))
    since_id = int(query["since_id"]) if query.get("since_id", "").isdigit() else None
    until_id = int(query["until_id"]) if query.get("until_id", "").isdigit() else None
    selected = []
    for tweet in state.x.timeline(user_id):  # newest first
        number = int(tweet.id)
        if before is not None and number >= before:
            continue
        if since_id is not None and number <= since_id:
            continue
        if until_id is not None and number >= until_id:
            continue
        if start is not None and tweet.created_at < start:
            continue
        if end is not None and tweet.created_at > end:
            continue
        selected.append(tweet)
        if len(selected) > max_results:
            break
    page, more = selected[:max_results], len(selected) > max_results
    if not page:
        return {"meta": {"result_count": 0}}
    fields = r.split_fields(query.get("tweet.fields"))
    viewer = caller.user.id if caller.user else None
    errors: list[dict[str, Any]] = []
    data = [r.render_tweet(state, t, fields, viewer, errors) for t in page]
    meta: dict[str, Any] = {
        "result_count": len(page),
        "newest_id": page[0].id,
        "oldest_id": page[-1].id,
    }
    if more:
        meta["next_token"] = _encode_token(int(page[-1].id))
    result: dict[str, Any] = {"data": data}
    if errors:
        result["errors"] = errors
    result["meta"] = meta
    return result


def _encode_token(oldest_id: int) -> str:
    # Opaque to clients, like X's; it names the oldest post already returned.
    return format(oldest_id, "x")[::-1] + "sbx"


def _decode_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        if not token.endswith("sbx"):
            raise ValueError(token)
        return int(token[:-3][::-1], 16)
    except ValueError:
        raise Reply(
            400, r.invalid_request("The pagination_token is not valid", "pagination_token", token)
        ) from None
