"""X refuses what it does not know: unknown query parameters, field values and body
members are a 400 with its invalid-request problem, never silently ignored."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import tweepy
from requests_oauthlib import OAuth1

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import route_session

API = "https://api.x.com"


@pytest.fixture
def signed(sandbox: SandboxHandle, alice: dict[str, Any]) -> requests.Session:
    options = SandboxOptions()
    session = route_session(requests.Session(), sandbox.url)
    session.auth = OAuth1(
        options.consumer_key,
        options.consumer_secret,
        alice["access_token"],
        alice["access_token_secret"],
    )
    return session


@pytest.fixture
def tweet_id(signed: requests.Session) -> str:
    created = signed.post(API + "/2/tweets", json={"text": "a post to look up"}, timeout=5)
    assert created.status_code == 201
    value: str = created.json()["data"]["id"]
    return value


def invalid(response: requests.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == API + "/2/problems/invalid-request"
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    errors: list[dict[str, Any]] = body["errors"]
    return errors


def test_an_unknown_field_value_is_refused_naming_it_and_the_valid_ones(
    signed: requests.Session, tweet_id: str
) -> None:
    answer = signed.get(
        f"{API}/2/tweets/{tweet_id}", params={"tweet.fields": "created_at,bogus"}, timeout=5
    )
    (error,) = invalid(answer)
    assert error["parameters"] == {"tweet.fields": ["created_at,bogus"]}
    assert error["message"].startswith(
        "The `tweet.fields` query parameter value [bogus] is not one of ["
    )
    assert "public_metrics" in error["message"]


def test_an_unknown_query_parameter_is_refused(signed: requests.Session, tweet_id: str) -> None:
    answer = signed.get(API + "/2/tweets", params={"ids": tweet_id, "fields": "text"}, timeout=5)
    (error,) = invalid(answer)
    assert error == {
        "parameters": {"fields": ["text"]},
        "message": "The query parameter [fields] is not one of [ids,expansions,media.fields,"
        "place.fields,poll.fields,tweet.fields,user.fields]",
    }


def test_every_problem_in_a_query_is_named(signed: requests.Session, alice: dict[str, Any]) -> None:
    answer = signed.get(
        f"{API}/2/users/{alice['id']}/tweets",
        params=[("exclude", "likes"), ("expansions", "author"), ("previous_token", "x")],
        timeout=5,
    )
    messages = [e["message"] for e in invalid(answer)]
    assert len(messages) == 3
    assert messages[0].startswith("The `exclude` query parameter value [likes]")
    assert messages[1].startswith("The `expansions` query parameter value [author]")
    assert messages[2].startswith("The query parameter [previous_token] is not one of [since_id,")


def test_a_repeated_parameter_is_refused(signed: requests.Session) -> None:
    answer = signed.get(API + "/2/users/me?user.fields=id&user.fields=name", timeout=5)
    (error,) = invalid(answer)
    assert error["message"] == (
        "Duplicate parameters are not allowed: the `user.fields` query parameter"
    )


def test_a_post_with_a_query_or_an_unknown_body_member_is_refused(
    signed: requests.Session, sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    with_query = signed.post(API + "/2/tweets?dry_run=true", json={"text": "q"}, timeout=5)
    assert invalid(with_query)[0]["parameters"] == {"dry_run": ["true"]}
    with_member = signed.post(API + "/2/tweets", json={"text": "m", "bogus": 1}, timeout=5)
    assert invalid(with_member)[0]["message"] == (
        "$.bogus: is not defined in the schema and the schema does not allow additional properties"
    )
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_what_tweepy_and_clarion_send_is_still_accepted(
    client: tweepy.Client, alice: dict[str, Any], tweet_id: str
) -> None:
    # The parameters Clarion's reads use (bot/platforms/x adapter and metrics).
    client.get_tweets(
        [tweet_id], tweet_fields=["public_metrics", "non_public_metrics"], user_auth=True
    )
    client.get_users_tweets(
        alice["id"],
        max_results=100,
        tweet_fields=["created_at"],
        start_time="2026-01-01T00:00:00Z",
        user_auth=True,
    )
    client.get_me(user_fields=["public_metrics"], user_auth=True)
