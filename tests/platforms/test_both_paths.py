"""The threaded path and the burst path send the same request for the same delivery, and
read the same answer into the same result or error.

Both go to a loopback server that records what it received: method, path, body, the
content type and every OAuth parameter but the nonce, the timestamp and the signature
they sign (each signature is checked on its own by the sandbox's verifier).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest

from bot.platforms import oauth1
from bot.platforms.base import Credentials, PlatformError, Published
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import ANY_HOST, async_session
from bot.platforms.mastodon import MastodonPlatform
from bot.platforms.x import XPlatform
from bot.sandbox.x import oauth1 as verifier
from tests.support.tiny_server import Answer, Seen

CK, CS = "consumer-key", "consumer&secret"
X_CREDS = Credentials("1234-tok/é", "token secret+", "42")
PAGE = Credentials("EAApagetoken", "", "9001")
LATER = datetime(2026, 12, 24, 9, 30, tzinfo=UTC)
PER_REQUEST = {"oauth_nonce", "oauth_timestamp", "oauth_signature"}


def threaded(platform: Any, creds: Credentials, text: str, **kw: Any) -> Published:
    return platform.publish(creds, text, **kw)


def burst(platform: Any, creds: Credentials, text: str, **kw: Any) -> Published:
    async def run() -> Published:
        async with async_session(timeout=5, limit=4) as session:
            publisher = platform.async_publisher(session)
            return await publisher.publish(creds, text, link=kw.pop("link", None), **kw)

    return asyncio.run(run())


def outcome(send: Any, *args: Any, **kw: Any) -> Any:
    """What a send came to: the Published, or the error's class and every attribute."""
    try:
        return send(*args, **kw)
    except PlatformError as exc:
        return type(exc), vars(exc)


def request_shape(seen: Seen) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in seen.headers.items()}
    oauth = oauth1.parse_authorization(headers.get("authorization", ""))
    return {
        "method": seen.method,
        "path": seen.path,
        "query": seen.query,
        "body": seen.body,
        "content-type": headers.get("content-type"),
        "oauth": {k: v for k, v in oauth.items() if k not in PER_REQUEST},
        "other auth": None if oauth else headers.get("authorization"),
    }


def check_x_signature(seen: Seen) -> None:
    header = {k.lower(): v for k, v in seen.headers.items()}["authorization"]
    verifier.verify(
        verifier.parse_header(header),
        method=seen.method,
        path=seen.path,
        query=seen.query,
        form_body=None,
        consumer_secret=CS,
        token_secret=X_CREDS.secret,
        now=time.time(),
    )


@pytest.fixture
def x(tiny_server):
    tiny_server.answer = Answer(201, json.dumps({"data": {"id": "1881", "text": "x"}}).encode())
    return XPlatform(CK, CS, api_base_url=tiny_server.url)


@pytest.fixture
def fb(tiny_server):
    tiny_server.answer = Answer(200, b'{"id": "9001_7"}')
    return FacebookPlatform(graph_base_url=tiny_server.url, www_base_url=tiny_server.url)


@pytest.mark.parametrize(
    "delivery",
    [
        pytest.param({"text": "Reinstate the reps ✊ & <now>"}, id="single-post"),
        pytest.param(
            {"text": "Picket at 7", "link": "https://union.test/p?a=1&b=é"}, id="post-with-link"
        ),
        pytest.param({"text": "2/ and bring a friend", "reply_to": "1880"}, id="thread-reply"),
    ],
)
def test_x_posts_are_the_same_request_on_both_paths(tiny_server, x, delivery):
    one = threaded(x, X_CREDS, **delivery)
    two = burst(x, X_CREDS, **delivery)
    first, second = tiny_server.seen
    assert request_shape(first) == request_shape(second)
    assert request_shape(first)["path"] == "/2/tweets"
    assert request_shape(first)["oauth"]["oauth_token"] == X_CREDS.token
    body = json.loads(first.body)
    if "reply_to" in delivery:
        assert body["reply"] == {"in_reply_to_tweet_id": delivery["reply_to"]}
    check_x_signature(first)
    check_x_signature(second)
    assert one == two


@pytest.mark.parametrize(
    "delivery",
    [
        pytest.param({"text": "Rally at the gates", "link": "https://union.test/r"}, id="post"),
        pytest.param({"text": "Held for Christmas Eve", "publish_at": LATER}, id="held"),
    ],
)
def test_facebook_posts_are_the_same_request_on_both_paths(tiny_server, fb, delivery):
    one = threaded(fb, PAGE, **delivery)
    two = burst(fb, PAGE, **delivery)
    first, second = tiny_server.seen
    assert request_shape(first) == request_shape(second)
    assert first.path == f"/{fb.graph_version}/{PAGE.platform_user_id}/feed"
    form = dict(parse_qsl(first.body.decode()))
    assert form["access_token"] == PAGE.token
    if "publish_at" in delivery:
        assert form["published"] == "false"
        assert form["scheduled_publish_time"] == str(int(LATER.timestamp()))
    assert one == two == Published("9001_7", "https://www.facebook.com/9001_7", delivery["text"])


X_ANSWERS = [
    pytest.param(Answer(201, b'{"data": {"id": "77"}}'), id="created"),
    pytest.param(Answer(201, b"created, honest"), id="accepted-unreadable"),
    pytest.param(Answer(429, b'{"title": "Too Many Requests"}'), id="rate-limited-no-reset"),
    pytest.param(
        Answer(403, b'{"detail": "You are not allowed to create a Tweet with duplicate content."}'),
        id="duplicate",
    ),
    pytest.param(
        Answer(403, b'{"type": "https://api.twitter.com/2/problems/oauth1-permissions"}'),
        id="read-only-token",
    ),
    pytest.param(Answer(503, b"<html>down</html>"), id="server-error"),
    pytest.param(Answer(418, b'{"title": "teapot"}'), id="unknown"),
]


@pytest.mark.parametrize("answer", X_ANSWERS)
def test_x_answers_are_read_the_same_on_both_paths(tiny_server, x, answer):
    tiny_server.answer = answer
    one = outcome(threaded, x, X_CREDS, "Same words")
    two = outcome(burst, x, X_CREDS, "Same words")
    assert one == two


FB_ANSWERS = [
    pytest.param(Answer(200, b'{"id": "9001_8"}'), id="created"),
    pytest.param(Answer(200, b"{}"), id="accepted-without-id"),
    pytest.param(Answer(200, b"not json"), id="accepted-unreadable"),
    pytest.param(
        Answer(400, b'{"error": {"code": 506, "message": "Duplicate status message"}}'),
        id="duplicate",
    ),
    pytest.param(
        Answer(400, b'{"error": {"code": 190, "message": "Bad token EAApagetoken"}}'),
        id="revoked-token-quoted-back",
    ),
    pytest.param(
        Answer(
            400,
            b'{"error": {"code": 32, "message": "Page request limit reached"}}',
            {"x-business-use-case-usage": '{"1": [{"estimated_time_to_regain_access": 3}]}'},
        ),
        id="rate-limited",
    ),
    pytest.param(Answer(502, b""), id="server-error"),
]


@pytest.mark.parametrize("answer", FB_ANSWERS)
def test_facebook_answers_are_read_the_same_on_both_paths(tiny_server, fb, answer):
    tiny_server.answer = answer
    one = outcome(threaded, fb, PAGE, "Same words", publish_at=LATER - timedelta(days=1))
    two = outcome(burst, fb, PAGE, "Same words", publish_at=LATER - timedelta(days=1))
    assert one == two
    assert PAGE.token not in repr(one)


BSKY_SESSION = {
    "did": "did:plc:bothpaths",
    "handle": "both.bsky.social",
    "pds_url": "https://bsky.social",
    "auth": "app_password",
    "access_token": "access-token",
    "refresh_token": "refresh-token",
}
BSKY_KEY = "3lbqzq2g3ab2c"


@pytest.fixture
def bsky(tiny_server):
    from bot.platforms.bluesky import BlueskyPlatform
    from bot.platforms.http import ANY_HOST

    return BlueskyPlatform(routes={ANY_HOST: tiny_server.url}, timeout=5, clock=lambda: LATER)


def bsky_creds() -> Credentials:
    from bot.platforms.bluesky.credentials import pack

    return pack(BSKY_SESSION)


def test_bluesky_posts_are_the_same_request_on_both_paths(tiny_server, bsky):
    uri = f"at://did:plc:bothpaths/app.bsky.feed.post/{BSKY_KEY}"
    tiny_server.answer = Answer(200, json.dumps({"uri": uri, "cid": "bafyreiexamplecid"}).encode())
    delivery = {"text": "Rally #Strike", "link": "https://union.test/r", "record_key": BSKY_KEY}
    one = threaded(bsky, bsky_creds(), **delivery)
    two = burst(bsky, bsky_creds(), **delivery)
    first, second = tiny_server.seen
    assert request_shape(first) == request_shape(second)
    assert first.path == "/_host/bsky.social/xrpc/com.atproto.repo.createRecord"
    assert request_shape(first)["other auth"] == "Bearer access-token"
    body = json.loads(first.body)
    assert (body["rkey"], body["record"]["createdAt"]) == (BSKY_KEY, "2026-12-24T09:30:00.000Z")
    url = f"https://bsky.app/profile/both.bsky.social/post/{BSKY_KEY}"
    assert one == two == Published(uri, url, "Rally #Strike")


BSKY_ANSWERS = [
    pytest.param(Answer(200, b'{"cid": "bafyreiexamplecid"}'), id="accepted-without-uri"),
    pytest.param(Answer(200, b"not json"), id="accepted-unreadable"),
    pytest.param(
        Answer(429, b'{"error": "RateLimitExceeded"}', {"ratelimit-reset": "4102444800"}),
        id="rate-limited",
    ),
    pytest.param(
        Answer(400, b'{"error": "InvalidRequest", "message": "Record already exists"}'),
        id="duplicate-key",
    ),
    pytest.param(Answer(400, b'{"error": "ExpiredToken"}'), id="expired-token"),
    pytest.param(Answer(500, b'{"error": "InternalServerError"}'), id="server-error"),
    pytest.param(Answer(418, b"teapot"), id="unknown"),
]


@pytest.mark.parametrize("answer", BSKY_ANSWERS)
def test_bluesky_answers_are_read_the_same_on_both_paths(tiny_server, bsky, answer):
    tiny_server.answer = answer
    one = outcome(threaded, bsky, bsky_creds(), "Same words", record_key=BSKY_KEY)
    two = outcome(burst, bsky, bsky_creds(), "Same words", record_key=BSKY_KEY)
    if isinstance(one, tuple) and "retry_after" in one[1]:  # seconds from now: moments apart
        assert one[1].pop("retry_after") == pytest.approx(two[1].pop("retry_after"), abs=2)
    assert one == two
    assert "access-token" not in repr(one)


MD_CREDS = Credentials("md-token_AZ-09", "", "1090", server="https://union.social")


@pytest.fixture
def md(tiny_server):
    tiny_server.answer = Answer(
        200,
        json.dumps(
            {
                "id": "1100",
                "url": "https://union.social/@a/1100",
                "created_at": "2026-12-06T04:00:00.000Z",
            }
        ).encode(),
    )
    return MastodonPlatform(routes={ANY_HOST: tiny_server.url})


@pytest.mark.parametrize(
    "delivery",
    [
        pytest.param({"text": "Reinstate the reps ✊ & <now>"}, id="single-post"),
        pytest.param(
            {"text": "Picket at 7", "link": "https://union.test/p?a=1&b=é"}, id="post-with-link"
        ),
        pytest.param({"text": "2/ and bring a friend", "reply_to": "1099"}, id="thread-reply"),
    ],
)
def test_mastodon_statuses_are_the_same_request_on_both_paths(tiny_server, md, delivery):
    key = "clarion-41-0-1765000000"
    one = threaded(md, MD_CREDS, idempotency_key=key, **delivery)
    two = burst(md, MD_CREDS, idempotency_key=key, **delivery)
    first, second = tiny_server.seen
    assert request_shape(first) == request_shape(second)
    assert first.path == "/_host/union.social/api/v1/statuses"
    assert request_shape(first)["other auth"] == f"Bearer {MD_CREDS.token}"
    for seen in (first, second):
        assert {k.lower(): v for k, v in seen.headers.items()}["idempotency-key"] == key
    body = json.loads(first.body)
    assert body.get("in_reply_to_id") == delivery.get("reply_to")
    assert one == two


MD_ANSWERS = [
    pytest.param(Answer(200, b'{"id": "1101", "url": "https://u/@a/1101"}'), id="created"),
    pytest.param(Answer(200, b"not json"), id="accepted-unreadable"),
    pytest.param(
        Answer(401, b'{"error": "The access token is invalid md-token_AZ-09"}'),
        id="revoked-token-quoted-back",
    ),
    pytest.param(
        Answer(422, b'{"error": "Validation failed: Text character limit of 500 exceeded"}'),
        id="too-long",
    ),
    pytest.param(
        Answer(
            429,
            b'{"error": "Too many requests"}',
            {
                "x-ratelimit-reset": "2099-01-01T00:00:00.000Z",
                "date": "Sun, 06 Dec 2026 04:00:00 GMT",
            },
        ),
        id="rate-limited",
    ),
    pytest.param(Answer(503, b"<html>down</html>"), id="server-error"),
    pytest.param(Answer(418, b'{"error": "teapot"}'), id="unknown"),
]


@pytest.mark.parametrize("answer", MD_ANSWERS)
def test_mastodon_answers_are_read_the_same_on_both_paths(tiny_server, md, answer):
    tiny_server.answer = answer
    one = outcome(threaded, md, MD_CREDS, "Same words", idempotency_key="k")
    two = outcome(burst, md, MD_CREDS, "Same words", idempotency_key="k")
    if isinstance(one, tuple) and "retry_after" in one[1]:  # seconds from now: moments apart
        assert one[1].pop("retry_after") == pytest.approx(two[1].pop("retry_after"), abs=2)
    assert one == two
    assert MD_CREDS.token not in repr(one)
