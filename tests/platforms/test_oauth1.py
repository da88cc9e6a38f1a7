"""Clarion's own OAuth 1.0a signer gives the header oauthlib (tweepy's signer) gives."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from oauthlib.oauth1 import Client

from bot.platforms import oauth1

FORM = "application/x-www-form-urlencoded"


def fields(header: str) -> dict[str, str]:
    """The header's parameters as sent (still percent-encoded)."""
    assert header.startswith("OAuth ")
    pairs = (item.split("=", 1) for item in header[len("OAuth ") :].split(", "))
    return {name: value.strip('"') for name, value in pairs}


def oauthlib_header(method, url, keys, form=()) -> str:
    consumer_key, consumer_secret, token, secret = keys
    client = Client(
        consumer_key, consumer_secret, token, secret, nonce="n0nce", timestamp="1700000000"
    )
    if form:
        _, headers, _ = client.sign(
            url, method, body=urlencode(form), headers={"Content-Type": FORM}
        )
    else:
        _, headers, _ = client.sign(url, method, headers={"Content-Type": "application/json"})
    return headers["Authorization"]


def ours(method, url, keys, form=()) -> str:
    consumer_key, consumer_secret, token, secret = keys
    return oauth1.authorization_header(
        method,
        url,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        token=token,
        token_secret=secret,
        form=form,
        nonce="n0nce",
        timestamp="1700000000",
    )


KEYS = [
    pytest.param(("consumer key", "consumersecret", "1234-abcDEF", "plainsecret"), id="plain"),
    pytest.param(("c k", "c&s=/+ %", "12 34/+~%&=", "s&e=c+r/e t"), id="reserved-chars"),
    pytest.param(("clé", "clé-secrète", "jeton-é-ü-✊", "geheim-ß"), id="non-ascii"),
]


@pytest.mark.parametrize("keys", KEYS)
def test_a_json_post_is_signed_as_oauthlib_signs_it(keys):
    url = "https://api.twitter.com/2/tweets"
    assert fields(ours("POST", url, keys)) == fields(oauthlib_header("POST", url, keys))


@pytest.mark.parametrize("keys", KEYS)
@pytest.mark.parametrize(
    "url",
    [
        "https://api.twitter.com/2/tweets?ids=1%2C2&tweet.fields=created_at,public_metrics",
        "https://api.twitter.com/2/x?q=caf%C3%A9+%F0%9F%98%80&empty=&a=%2B%26%3D%7E",
        "HTTPS://API.Twitter.com:443/2/users/1/tweets?start_time=2026-01-01T00:00:00Z",
    ],
)
def test_query_parameters_are_signed_as_oauthlib_signs_them(keys, url):
    assert fields(ours("GET", url, keys)) == fields(oauthlib_header("GET", url, keys))


@pytest.mark.parametrize("keys", KEYS)
def test_form_parameters_are_signed_as_oauthlib_signs_them(keys):
    url = "https://api.twitter.com/oauth/access_token?x=1"
    form = (("oauth_verifier", "v é+&="), ("a", "b c"), ("a", "~!*'()"))
    assert fields(ours("POST", url, keys, form)) == fields(oauthlib_header("POST", url, keys, form))


def test_a_changed_body_parameter_changes_the_signature():
    keys = ("ck", "cs", "t", "s")
    url = "https://api.twitter.com/oauth/access_token"
    one = fields(ours("POST", url, keys, (("a", "1"),)))["oauth_signature"]
    two = fields(ours("POST", url, keys, (("a", "2"),)))["oauth_signature"]
    assert one != two


def test_each_request_gets_a_new_nonce():
    headers = [
        oauth1.authorization_header(
            "POST",
            "https://api.twitter.com/2/tweets",
            consumer_key="k",
            consumer_secret="c",
            token="t",
            token_secret="s",
        )
        for _ in range(3)
    ]
    assert len({fields(h)["oauth_nonce"] for h in headers}) == 3


def test_a_header_reads_back_into_its_parameters():
    header = ours("POST", "https://api.twitter.com/2/tweets", ("c k", "cs", "t/é", "s"))
    parsed = oauth1.parse_authorization(header)
    assert parsed["oauth_consumer_key"] == "c k"
    assert parsed["oauth_token"] == "t/é"
    assert oauth1.parse_authorization("Basic dXNlcjpwYXNz") == {}
