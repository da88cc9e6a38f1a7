"""X serves its API on api.x.com and on its former host api.twitter.com: the sandbox
verifies a signature made for either, and answers in the signed host's names."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests_oauthlib import OAuth1

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import route_session


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


@pytest.mark.parametrize("origin", ["https://api.x.com", "https://api.twitter.com"])
def test_a_post_signed_for_either_host_is_created_and_located_on_that_host(
    signed: requests.Session, origin: str
) -> None:
    response = signed.post(origin + "/2/tweets", json={"text": "both hosts"}, timeout=5)
    assert response.status_code == 201, response.text
    tweet_id = response.json()["data"]["id"]
    assert response.headers["location"] == f"{origin}/2/tweets/{tweet_id}"


def test_a_signature_for_another_host_is_refused(
    sandbox: SandboxHandle, signed: requests.Session
) -> None:
    # Signed for upload.x.com's URL but delivered to the API: the base string differs.
    prepared = signed.prepare_request(
        requests.Request("GET", "https://upload.x.com/2/users/me", auth=signed.auth)
    )
    answer = requests.get(
        sandbox.url + "/2/users/me",
        headers={"Authorization": prepared.headers["Authorization"]},
        timeout=5,
    )
    assert answer.status_code == 401


@pytest.mark.parametrize("origin", ["https://api.x.com", "https://api.twitter.com"])
def test_problem_types_name_the_host_the_request_was_signed_for(
    signed: requests.Session, origin: str
) -> None:
    bad = signed.get(origin + "/2/tweets", params={"ids": "x"}, timeout=5)
    assert bad.status_code == 400
    assert bad.json()["type"] == f"{origin}/2/problems/invalid-request"
    missing = signed.get(origin + "/2/tweets/1", timeout=5).json()
    assert missing["errors"][0]["type"] == f"{origin}/2/problems/resource-not-found"
