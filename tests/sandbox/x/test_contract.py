"""The sandbox answers like the real X API, interaction by interaction.

For each request recorded against the live API (/work/shared/contracts/x/*.json), the
sandbox's answer to the same request must have the same status, the same JSON structure
(keys and value types, recursively; list lengths may differ) and the same rate-limit
header names. Ids differ, so posts are created first and their ids substituted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.contracts import shape
from tests.support.routing import route_session

CONTRACTS = Path(__file__).resolve().parents[2] / "fixtures" / "contracts" / "x"
SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "contracts" / "x"
TCO = re.compile(r"https://t\.co/[A-Za-z0-9]{10}")
RATE_HEADERS = {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"}


def test_the_recordings_here_are_the_projects_shared_ones():
    if not SHARED.is_dir():
        pytest.skip(f"no shared contracts beside this clone ({SHARED})")
    shared = {p.name: json.loads(p.read_text()) for p in SHARED.glob("*.json")}
    copied = {p.name: json.loads(p.read_text()) for p in CONTRACTS.glob("*.json")}
    assert copied == shared, "refresh tests/fixtures/contracts/x from ../shared/contracts/x"


def recorded(name: str) -> list[dict[str, Any]]:
    interactions: list[dict[str, Any]] = json.loads((CONTRACTS / name).read_text())["interactions"]
    return interactions


class Api:
    """Signed requests to the sandbox, addressed to https://api.twitter.com."""

    def __init__(self, sandbox: SandboxHandle, user: dict[str, Any]) -> None:
        options = SandboxOptions()
        self.auth = OAuth1(
            options.consumer_key,
            options.consumer_secret,
            user["access_token"],
            user["access_token_secret"],
        )
        self.session = route_session(requests.Session(), sandbox.url)

    def send(self, method: str, uri: str, body: Any = None) -> requests.Response:
        return self.session.request(method, uri, json=body, auth=self.auth, timeout=5)

    def post(self, text: str) -> str:
        response = self.send("POST", "https://api.twitter.com/2/tweets", {"text": text})
        assert response.status_code == 201, response.text
        tweet_id: str = response.json()["data"]["id"]
        return tweet_id


def assert_matches(response: requests.Response, interaction: dict[str, Any]) -> None:
    expected = interaction["response"]
    assert response.status_code == expected["status"]
    assert shape(response.json()) == shape(expected["body"])
    recorded_rate_headers = {h for h in expected["headers"] if h in RATE_HEADERS}
    assert recorded_rate_headers == RATE_HEADERS
    assert set(response.headers.keys()) >= RATE_HEADERS
    if "location" in expected["headers"]:
        assert response.headers["location"].startswith("https://api.twitter.com/2/tweets/")
    assert response.headers["content-type"].startswith("application/json")


@pytest.fixture
def api(sandbox: SandboxHandle, alice: dict[str, Any]) -> Api:
    return Api(sandbox, alice)


@pytest.mark.parametrize(
    "name", ["client_create_and_delete_tweet.json", "asyncclient_create_and_delete_tweet.json"]
)
def test_create_and_delete_match_the_recording(api: Api, name: str) -> None:
    create, delete = recorded(name)
    created = api.send("POST", create["request"]["uri"], create["request"]["body"])
    assert_matches(created, create)
    assert "edit_history_tweet_ids" not in created.json()["data"]
    tweet_id = created.json()["data"]["id"]
    deleted = api.send("DELETE", f"https://api.twitter.com/2/tweets/{tweet_id}")
    assert_matches(deleted, delete)


def test_get_tweet_matches_the_recording(api: Api) -> None:
    (interaction,) = recorded("client_get_tweet.json")
    tweet_id = api.post(interaction["response"]["body"]["data"]["text"])
    response = api.send("GET", f"https://api.twitter.com/2/tweets/{tweet_id}")
    assert_matches(response, interaction)
    assert response.json()["data"]["edit_history_tweet_ids"] == [tweet_id]


def test_get_tweets_matches_the_recording(api: Api) -> None:
    (interaction,) = recorded("client_get_tweets.json")
    texts = [t["text"] for t in interaction["response"]["body"]["data"]]
    ids = [api.post(text) for text in texts]
    response = api.send("GET", "https://api.twitter.com/2/tweets?ids=" + "%2C".join(ids))
    assert_matches(response, interaction)
    # X wraps every link in a fresh t.co link, even a t.co link; the rest is unchanged.
    assert [TCO.sub("<t.co>", t["text"]) for t in response.json()["data"]] == [
        TCO.sub("<t.co>", text) for text in texts
    ]


def test_get_me_matches_the_recording(api: Api) -> None:
    (interaction,) = recorded("client_get_me.json")
    assert_matches(api.send("GET", interaction["request"]["uri"]), interaction)


def test_get_users_tweets_matches_the_recording(api: Api, alice: dict[str, Any]) -> None:
    (interaction,) = recorded("client_get_users_tweets.json")
    # The recording has a next_token: more posts than one default page (10) exist.
    for i in range(12):
        api.post(f"timeline post {i}")
    response = api.send("GET", f"https://api.twitter.com/2/users/{alice['id']}/tweets")
    assert_matches(response, interaction)
    assert response.json()["meta"]["result_count"] == 10


def test_emoji_survive_the_round_trip(api: Api) -> None:
    # Recorded bodies carry emoji as UTF-16 surrogate pairs in JSON; any JSON parser
    # must read them back as the same characters.
    text = "It’s here! 🥁 #TwitterAPI"
    tweet_id = api.post(text)
    assert (
        api.send("GET", f"https://api.twitter.com/2/tweets/{tweet_id}").json()["data"]["text"]
        == text
    )


def test_every_recorded_file_is_covered() -> None:
    covered = {
        "client_create_and_delete_tweet.json",
        "asyncclient_create_and_delete_tweet.json",
        "client_get_tweet.json",
        "client_get_tweets.json",
        "client_get_me.json",
        "client_get_users_tweets.json",
    }
    assert {p.name for p in CONTRACTS.glob("*.json")} <= covered


# --- documented shapes (tests/fixtures/contracts/documented/x_*.json) -------------------

DOCUMENTED = CONTRACTS.parent / "documented"


def documented(name: str) -> dict[str, dict[str, Any]]:
    data = json.loads((DOCUMENTED / name).read_text())
    return {i.get("name", str(n)): i for n, i in enumerate(data["interactions"])}


def generic_parameters(body: Any) -> Any:
    """The body with each error's ``parameters`` keyed by one placeholder: the documented
    answers name other routes' parameters than the ones provoked here."""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [
            {**e, "parameters": {"<name>": list(e["parameters"].values())[0]}}
            if isinstance(e, dict) and e.get("parameters")
            else e
            for e in body["errors"]
        ]
        return {**body, "errors": errors}
    return body


def test_invalid_requests_match_the_documented_answers(api: Api, alice: dict[str, Any]) -> None:
    unknown_param, unknown_value, repeated = documented("x_invalid_request.json").values()
    tweet_id = api.post("a post to ask about")
    cases = [
        (
            f"https://api.twitter.com/2/users/{alice['id']}/tweets?previous_token=b26v89",
            unknown_param,
            "The query parameter [previous_token] is not one of [",
        ),
        (
            f"https://api.twitter.com/2/tweets/{tweet_id}"
            "?tweet.fields=tweet.fields%3Dattachments%2Cauthor_id",
            unknown_value,
            "The `tweet.fields` query parameter value [tweet.fields=attachments] is not one of [",
        ),
        (
            f"https://api.twitter.com/2/tweets?ids={tweet_id}&ids={tweet_id}",
            repeated,
            "Duplicate parameters are not allowed: the `ids` query parameter",
        ),
    ]
    for uri, interaction, message in cases:
        response = api.send("GET", uri)
        expected = interaction["response"]
        assert response.status_code == expected["status"], uri
        body = response.json()
        assert shape(generic_parameters(body)) == shape(generic_parameters(expected["body"]))
        assert body["type"] == expected["body"]["type"]  # signed for api.twitter.com, as theirs
        assert body["errors"][0]["message"].startswith(message)


def test_errors_match_the_documented_answers(
    api: Api, sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    cases = documented("x_errors.json")
    api.post("same words twice")
    duplicate = api.send("POST", "https://api.x.com/2/tweets", {"text": "same words twice"})
    unsigned = requests.get(sandbox.url + "/2/users/me", timeout=5)
    sandbox.admin.set_rate_limits(x_posts_per_user=1)
    too_many = api.send("POST", "https://api.x.com/2/tweets", {"text": "one too many"})
    for name, response in (
        ("duplicate", duplicate),
        ("unauthorized", unsigned),
        ("too_many", too_many),
    ):
        expected = cases[name]["response"]
        assert response.status_code == expected["status"], name
        assert response.json() == expected["body"], name
        assert set(expected.get("headers", {})) <= set(response.headers.keys())
