"""The sandbox's OAuth 1.0a verifier agrees with oauthlib, the library tweepy signs with,
and with Clarion's own signer (bot.platforms.oauth1), whose functions it computes with."""

from __future__ import annotations

import random
import time
from urllib.parse import quote, urlencode, urlsplit

import pytest
import requests
import twitter_text
from requests_oauthlib import OAuth1

from bot.platforms import oauth1 as signer
from bot.sandbox.x import oauth1
from bot.sandbox.x.api import MAX_WEIGHTED_LENGTH, excess_length

CK, CS, TOKEN, SECRET = "ck", "c&s", "123-tok", "t s~"


def check(request: requests.PreparedRequest, token_secret: str = SECRET) -> None:
    header = request.headers["Authorization"]
    authorization = header.decode() if isinstance(header, bytes) else header
    parts = urlsplit(request.url or "")
    content_type = request.headers.get("Content-Type", "")
    content_type = content_type.decode() if isinstance(content_type, bytes) else content_type
    body = request.body
    form = None
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = body.decode() if isinstance(body, bytes) else body
    oauth1.verify(
        oauth1.parse_header(authorization),
        method=request.method or "",
        path=parts.path,
        query=parts.query,
        form_body=form,
        consumer_secret=CS,
        token_secret=token_secret,
        now=time.time(),
    )


def prepare(method: str, url: str, **kwargs: object) -> requests.PreparedRequest:
    return requests.Request(method, url, auth=OAuth1(CK, CS, TOKEN, SECRET), **kwargs).prepare()


@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("POST", "https://api.twitter.com/2/tweets", {"json": {"text": "héllo & <b>"}}),
        ("GET", "https://api.twitter.com/2/tweets?ids=1%2C2&tweet.fields=created_at", {}),
        ("GET", "https://api.twitter.com/2/users/1/tweets?start_time=2026-01-01T00:00:00Z", {}),
        ("GET", "https://api.twitter.com/2/x?q=caf%C3%A9+%F0%9F%98%80&empty=", {}),
        ("POST", "https://api.twitter.com/oauth/access_token", {"data": {"a": "b c", "d": "é"}}),
        ("DELETE", "https://api.twitter.com/2/tweets/123", {}),
    ],
)
def test_it_accepts_what_oauthlib_signed(method: str, url: str, kwargs: dict[str, object]) -> None:
    check(prepare(method, url, **kwargs))


@pytest.mark.parametrize(
    ("method", "url", "form"),
    [
        ("POST", "https://api.twitter.com/2/tweets", ()),
        ("GET", "https://api.twitter.com/2/x?q=caf%C3%A9+%F0%9F%98%80&empty=&a=%2B%26%3D", ()),
        ("POST", "https://api.twitter.com/oauth/access_token", (("a", "b c"), ("d", "é+&="))),
    ],
)
def test_it_accepts_what_our_own_signer_signed(method: str, url: str, form: tuple) -> None:
    header = signer.authorization_header(
        method, url, consumer_key=CK, consumer_secret=CS, token=TOKEN, token_secret=SECRET,
        form=form,
    )  # fmt: skip
    parts = urlsplit(url)
    oauth1.verify(
        oauth1.parse_header(header),
        method=method,
        path=parts.path,
        query=parts.query,
        form_body=urlencode(form) if form else None,
        consumer_secret=CS,
        token_secret=SECRET,
        now=time.time(),
    )


def test_it_rejects_a_wrong_token_secret() -> None:
    with pytest.raises(oauth1.OAuthFailure):
        check(prepare("GET", "https://api.twitter.com/2/users/me"), token_secret="other")


def test_it_rejects_a_changed_form_body() -> None:
    request = prepare("POST", "https://api.twitter.com/oauth/access_token", data={"a": "1"})
    request.body = "a=2"
    with pytest.raises(oauth1.OAuthFailure):
        check(request)


def test_it_rejects_an_old_timestamp() -> None:
    request = prepare("GET", "https://api.twitter.com/2/users/me")
    header = request.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    parsed = oauth1.parse_header(header)
    with pytest.raises(oauth1.OAuthFailure, match="timestamp"):
        oauth1.verify(
            parsed,
            method="GET",
            path="/2/users/me",
            query="",
            form_body=None,
            consumer_secret=CS,
            token_secret=SECRET,
            now=time.time() + 3600,
        )


def test_it_rejects_headers_that_are_not_oauth() -> None:
    with pytest.raises(oauth1.OAuthFailure):
        oauth1.parse_header("Basic dXNlcjpwYXNz")
    with pytest.raises(oauth1.OAuthFailure):
        oauth1.parse_header('OAuth oauth_consumer_key="ck"')


def test_escaping_matches_rfc_5849_for_any_text() -> None:
    rng = random.Random(5)
    alphabet = [chr(c) for c in range(32, 127)] + ["é", "😀", "中", "\n"]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        assert signer.escape(text) == quote(text, safe="~")


def test_the_length_shortcut_agrees_with_twitter_text() -> None:
    rng = random.Random(7)
    pieces = ["a", "é", "😀", "中", " ", ".", "x.co", "https://example.org/p", "#tag", "\n"]
    for _ in range(150):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 160)))
        weighted = twitter_text.parse_tweet(text).weightedLength
        expected = weighted if weighted > MAX_WEIGHTED_LENGTH else None
        assert excess_length(text) == expected, text


@pytest.mark.parametrize("origin", ["https://api.x.com", "https://api.twitter.com"])
def test_a_signature_over_either_of_xs_hosts_verifies_and_names_that_host(origin: str) -> None:
    request = prepare("GET", origin + "/2/users/me?user.fields=public_metrics")
    header = request.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    signed_for = oauth1.verify(
        oauth1.parse_header(header),
        method="GET",
        path="/2/users/me",
        query="user.fields=public_metrics",
        form_body=None,
        consumer_secret=CS,
        token_secret=SECRET,
        now=time.time(),
    )
    assert signed_for == origin


def test_a_signature_over_any_other_host_is_refused() -> None:
    with pytest.raises(oauth1.OAuthFailure, match="signature"):
        check(prepare("GET", "https://api.example.org/2/users/me"))
