"""X API v2 bodies: problem documents, partial errors, tweet and user objects.

Shapes follow the recorded responses in /work/shared/contracts/x/ and the documented
errors in /work/shared/contracts/README.md. Where no recording exists the choice made
here is noted next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.sandbox.engagement import metrics
from bot.sandbox.ratelimit import Window
from bot.sandbox.x.oauth1 import X_ORIGIN

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState
    from bot.sandbox.x.state import Tweet, XUser


@dataclass(frozen=True)
class Caller:
    """Who signed the request: a user, or the app alone (bearer token), and for which of
    X's hosts (the one the signature verified over; a bearer token names none)."""

    user: XUser | None  # None: app-only bearer token
    origin: str = X_ORIGIN


class Reply(Exception):
    """Raised by handlers to answer at once (errors); carries status and body."""

    def __init__(self, status: int, body: Any, window: Window | None = None) -> None:
        self.status, self.body, self.window = status, body, window


# Problem types name the host: docs.x.com (response-codes-and-errors) shows
# "https://api.x.com/2/problems/invalid-request"; bodies reported from clients that call
# api.twitter.com (e.g. plhery/node-twitter-api-v2#597, Aug 2025) still name that host.
# The sandbox answers with the host the request was signed for (``for_origin``).
PROBLEMS = X_ORIGIN + "/2/problems/"
# X: non_public_metrics and organic_metrics exist only for the author, for 30 days.
PRIVATE_METRICS_MAX_AGE_S = 30 * 24 * 3600

UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
# X answers a reply to a missing or deleted post with 403 (error 385 in v1.1, the same
# detail in v2); several client issue trackers report this text.
REPLY_TARGET_GONE = {
    "detail": "You attempted to reply to a Tweet that is deleted or not visible to you.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
NOT_AUTHOR = {
    "detail": "You are not authorized to delete this Tweet.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
APP_ONLY_FORBIDDEN = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint."
    "  Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": PROBLEMS + "unsupported-authentication",
    "status": 403,
}
NOT_FOUND_ROUTE = {"errors": [{"message": "Sorry, that page does not exist", "code": 34}]}


def usage_capped() -> dict[str, Any]:
    # Body as X sends it for the monthly product cap (reported in xdevplatform/xdk#25).
    return {
        "account_id": "0",
        "product_name": "standard-basic",
        "title": "UsageCapExceeded",
        "period": "Monthly",
        "scope": "Product",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": PROBLEMS + "usage-capped",
    }


def for_origin(body: Any, origin: str) -> Any:
    """``body`` with its problem ``type`` URIs on ``origin`` instead of the current host."""
    if origin == X_ORIGIN or not isinstance(body, dict):
        return body
    theirs = origin + "/2/problems/"

    def moved(problem: Any) -> Any:
        kind = problem.get("type") if isinstance(problem, dict) else None
        if isinstance(kind, str) and kind.startswith(PROBLEMS):
            return {**problem, "type": theirs + kind[len(PROBLEMS) :]}
        return problem

    answer = moved(body)
    if isinstance(answer.get("errors"), list):
        answer = {**answer, "errors": [moved(e) for e in answer["errors"]]}
    return answer


def invalid_request(message: str, parameter: str, value: Any) -> dict[str, Any]:
    return invalid_request_for([{"parameters": {parameter: [str(value)]}, "message": message}])


def invalid_request_for(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """X's 400 problem naming each invalid parameter in ``errors``."""
    return {
        "errors": errors,
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": PROBLEMS + "invalid-request",
    }


def not_found(resource: str, parameter: str, value: str) -> dict[str, Any]:
    return {
        "value": value,
        "detail": f"Could not find {resource} with {parameter}: [{value}].",
        "title": "Not Found Error",
        "resource_type": resource,
        "parameter": parameter,
        "resource_id": value,
        "type": PROBLEMS + "resource-not-found",
    }


def field_not_authorized(tweet_id: str, field: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Sorry, you are not authorized to access '{field}' on the Tweet with "
        f"ids {tweet_id}.",
        "title": "Field Authorization Error",
        "resource_type": "tweet",
        "parameter": "tweet.fields",
        "resource_id": tweet_id,
        "field": field,
        "section": "data",
        "type": PROBLEMS + "not-authorized-for-field",
    }


def iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> float:
    """X accepts RFC 3339 times (YYYY-MM-DDTHH:mm:ssZ)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def split_fields(value: str | None) -> set[str]:
    return {f for f in (value or "").split(",") if f}


def render_tweet(
    state: SandboxState,
    tweet: Tweet,
    fields: set[str],
    viewer_id: str | None,
    errors: list[dict[str, Any]],
) -> dict[str, Any]:
    """A lookup object: always edit_history_tweet_ids, id, text (as recorded)."""
    data: dict[str, Any] = {
        "edit_history_tweet_ids": [tweet.id],
        "id": tweet.id,
        "text": tweet.shown,
    }
    if "created_at" in fields:
        data["created_at"] = iso(tweet.created_at)
    if "author_id" in fields:
        data["author_id"] = tweet.author_id
    if "conversation_id" in fields:
        data["conversation_id"] = tweet.conversation_id
    if tweet.reply_to:
        if "in_reply_to_user_id" in fields:
            parent = state.x.tweets.get(tweet.reply_to)
            if parent is not None:
                data["in_reply_to_user_id"] = parent.author_id
        if "referenced_tweets" in fields:
            data["referenced_tweets"] = [{"type": "replied_to", "id": tweet.reply_to}]
    if "attachments" in fields and tweet.media_ids:
        data["attachments"] = {"media_keys": [f"3_{m}" for m in tweet.media_ids]}
    wanted = [k for k in ("public", "non_public", "organic") if f"{k}_metrics" in fields]
    if wanted:
        author = state.x.users[tweet.author_id]
        # The 30-day window is an API rule: protocol time. Only the numbers grow fast.
        private_ok = (
            viewer_id == tweet.author_id
            and state.clock.time() - tweet.created_at < PRIVATE_METRICS_MAX_AGE_S
        )
        age = state.clock.engagement_age(tweet.created_at)
        for kind in wanted:
            field = f"{kind}_metrics"
            if kind != "public" and not private_ok:
                errors.append(field_not_authorized(tweet.id, field))
                continue
            data[field] = metrics(
                "x",
                followers=author.followers,
                age_seconds=age,
                seed=state.options.seed,
                post_id=tweet.id,
                kind=kind,
            )
    return data


def render_user(state: SandboxState, user: XUser, fields: set[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user.id, "name": user.name, "username": user.username}
    if "created_at" in fields:
        data["created_at"] = iso(user.created_at)
    if "protected" in fields:
        data["protected"] = False
    if "verified" in fields:
        data["verified"] = False
    if "description" in fields:
        data["description"] = ""
    if "public_metrics" in fields:
        data["public_metrics"] = {
            "followers_count": user.followers,
            "following_count": 0,
            "tweet_count": len(state.x.timeline(user.id)),
            "listed_count": 0,
            "like_count": 0,
            "media_count": 0,
        }
    return data
