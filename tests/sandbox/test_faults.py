"""Injected faults reach real clients as the failures they must survive."""

from __future__ import annotations

import http.client
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import tweepy
from requests_oauthlib import OAuth1

from bot.platforms.base import Credentials, TransientError
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import classify_transport_error
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import route_session

POST_URL = "https://api.twitter.com/2/tweets"


def signed(user: dict[str, Any]) -> OAuth1:
    options = SandboxOptions()
    return OAuth1(
        options.consumer_key,
        options.consumer_secret,
        user["access_token"],
        user["access_token_secret"],
    )


def post(sandbox: SandboxHandle, user: dict[str, Any], text: str, timeout: float = 5) -> Any:
    session = route_session(requests.Session(), sandbox.url)
    return session.post(POST_URL, json={"text": text}, auth=signed(user), timeout=timeout)


def root_cause(error: BaseException) -> BaseException:
    while True:
        nested = error.__context__ or error.__cause__
        if nested is None:
            if error.args and isinstance(error.args[-1], BaseException):
                nested = error.args[-1]
            else:
                return error
        error = nested


def test_latency_delays_answers_without_blocking_others(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_latency(300, platform="x")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: post(sandbox, alice, f"slow {i}"), range(8)))
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [201] * 8
    assert 0.3 <= elapsed < 1.2  # eight at once, not one after another (2.4 s)


def test_latency_can_follow_a_distribution(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    config = sandbox.admin.set_latency(50, distribution="exponential", platform="x")
    assert config["x"]["latency_distribution"] == "exponential"
    assert config["facebook"]["latency_ms"] == 0
    assert post(sandbox, alice, "exp").status_code == 201


def test_error_rate_answers_503_with_xs_body_and_creates_nothing(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    sandbox.admin.set_faults("x", error_rate=1.0)
    with pytest.raises(tweepy.TwitterServerError) as caught:
        client.create_tweet(text="lost in 503", user_auth=True)
    response = caught.value.response
    assert response.status_code == 503
    assert response.json()["title"] == "Service Unavailable"
    assert "x-rate-limit-reset" in response.headers
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_graph_error_rate_answers_graphs_transient_error(sandbox: SandboxHandle) -> None:
    if sandbox.state is None or sandbox.state.fb is None:
        raise AssertionError("the sandbox started without its Graph part")
    sandbox.admin.set_faults("facebook", error_rate=1.0)
    session = route_session(requests.Session(), sandbox.url)
    answer = session.get("https://graph.facebook.com/v25.0/me?access_token=x", timeout=5)
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == 2
    assert error["is_transient"] is True
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]


def test_timeout_holds_then_drops_the_connection(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_faults("x", timeout_rate=1.0, timeout_hold_s=0.4)
    with pytest.raises(requests.ReadTimeout):
        post(sandbox, alice, "waiting", timeout=0.15)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError) as caught:
        post(sandbox, alice, "waiting longer", timeout=3)
    assert time.monotonic() - started >= 0.35
    assert isinstance(root_cause(caught.value), http.client.RemoteDisconnected)


def test_reset_rate_resets_the_connection(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    sandbox.admin.set_faults("x", reset_rate=1.0)
    with pytest.raises(requests.ConnectionError) as caught:
        post(sandbox, alice, "reset me")
    assert isinstance(root_cause(caught.value), ConnectionResetError)
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_accept_then_drop_creates_the_post_but_loses_the_answer(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_faults("x", accept_then_drop_rate=1.0)
    with pytest.raises(requests.ConnectionError) as caught:
        post(sandbox, alice, "did it go?")
    assert isinstance(root_cause(caught.value), http.client.RemoteDisconnected)
    assert [p["text"] for p in sandbox.admin.posts("x", alice["id"])] == ["did it go?"]


def test_accept_then_error_creates_the_post_but_answers_503(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_faults("x", accept_then_error_rate=1.0)
    answer = post(sandbox, alice, "created behind a 503")
    assert answer.status_code == 503 and answer.json()["title"] == "Service Unavailable"
    assert [p["text"] for p in sandbox.admin.posts("x", alice["id"])] == ["created behind a 503"]


def test_faults_can_be_switched_off_at_run_time(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_faults("x", error_rate=1.0)
    assert post(sandbox, alice, "a").status_code == 503
    sandbox.admin.set_faults("x", error_rate=0.0)
    assert post(sandbox, alice, "a").status_code == 201


def test_a_partial_error_rate_fails_some_requests(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_faults("x", error_rate=0.5)
    statuses = [post(sandbox, alice, f"coin {i}").status_code for i in range(40)]
    assert 5 <= statuses.count(503) <= 35
    assert statuses.count(201) == 40 - statuses.count(503)


def test_bad_fault_settings_are_refused(sandbox: SandboxHandle) -> None:
    with pytest.raises(requests.HTTPError):
        sandbox.admin.set_faults("x", error_rate=1.5)
    with pytest.raises(requests.HTTPError):
        sandbox.admin.set_faults("x", no_such_fault=0.1)
    with pytest.raises(requests.HTTPError):
        sandbox.admin.set_faults("myspace", error_rate=0.1)


def test_a_429_storm_refuses_posts_until_it_ends(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    sandbox.admin.storm(2)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="in the storm", user_auth=True)
    headers = caught.value.response.headers
    assert headers["x-rate-limit-remaining"] == "0"
    assert time.time() < int(headers["x-rate-limit-reset"]) <= time.time() + 4
    assert client.get_me(user_auth=True).data.username == "alice"  # reads still work
    sandbox.admin.storm(0)
    client.create_tweet(text="after the storm", user_auth=True)


def test_scripted_responses_are_consumed_in_order(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.script(
        "x",
        "POST",
        r"^/2/tweets$",
        [
            {"status": 503, "body": {"title": "Service Unavailable"}},
            {
                "status": 429,
                "headers": {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1900000000"},
                "body": {"title": "Too Many Requests"},
            },
            {"action": "reset"},
            {"action": "drop"},
            {"action": "accept_then_drop"},
        ],
    )
    first = post(sandbox, alice, "s1")
    assert first.status_code == 503
    assert "x-rate-limit-limit" in first.headers  # X headers are added to scripted answers
    second = post(sandbox, alice, "s2")
    assert second.status_code == 429
    assert second.headers["x-rate-limit-reset"] == "1900000000"
    with pytest.raises(requests.ConnectionError) as reset:
        post(sandbox, alice, "s3")
    assert isinstance(root_cause(reset.value), ConnectionResetError)
    with pytest.raises(requests.ConnectionError) as dropped:
        post(sandbox, alice, "s4")
    assert isinstance(root_cause(dropped.value), http.client.RemoteDisconnected)
    with pytest.raises(requests.ConnectionError):
        post(sandbox, alice, "s5")
    assert post(sandbox, alice, "s6").status_code == 201  # the script is used up
    assert [p["text"] for p in sandbox.admin.posts("x", alice["id"])] == ["s6", "s5"]


def test_a_script_can_remove_a_rate_limit_header(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.script(
        "x", "POST", "/2/tweets", [{"status": 429, "headers": {"x-rate-limit-reset": None}}]
    )
    answer = post(sandbox, alice, "no reset")
    assert answer.status_code == 429
    assert "x-rate-limit-reset" not in answer.headers


def test_scripts_match_only_their_method_and_path(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    sandbox.admin.script("x", "DELETE", r"^/2/tweets/\d+$", [{"status": 500, "body": {}}])
    created = client.create_tweet(text="keep me", user_auth=True).data["id"]
    assert client.get_tweet(created, user_auth=True).data.text == "keep me"
    with pytest.raises(tweepy.TwitterServerError):
        client.delete_tweet(created, user_auth=True)
    assert client.delete_tweet(created, user_auth=True).data == {"deleted": True}


def test_bad_scripts_are_refused(sandbox: SandboxHandle) -> None:
    with pytest.raises(requests.HTTPError):
        sandbox.admin.script("x", "POST", "(", [{"status": 500}])
    with pytest.raises(requests.HTTPError):
        sandbox.admin.script("x", "POST", "/2/tweets", [{"action": "explode"}])
    with pytest.raises(requests.HTTPError):
        sandbox.admin.script("x", "POST", "/2/tweets", [])


def test_a_scripted_timeout_holds_for_its_seconds_then_drops(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.script("x", "POST", "/2/tweets", [{"action": "timeout", "seconds": 0.3}])
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        post(sandbox, alice, "held")
    assert time.monotonic() - started >= 0.25
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_the_server_counts_requests_held_at_once(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.set_latency(300, platform="x")
    sandbox.admin.stats(clear_peak=True)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: post(sandbox, alice, f"held {i}"), range(6)))
    assert sandbox.admin.stats()["peak_in_flight"] == 6


def test_a_429_storm_refuses_facebook_page_posts_too_saying_when_it_ends(
    sandbox: SandboxHandle,
) -> None:
    page = sandbox.admin.create_page("Fujitsu branch")
    facebook = FacebookPlatform(graph_base_url=sandbox.url, www_base_url=sandbox.url)
    creds = Credentials(page["page_token"], "", str(page["page_id"]))
    sandbox.admin.storm(90, platform="facebook")
    with pytest.raises(TransientError) as caught:
        facebook.publish(creds, "in the storm")
    assert caught.value.rate_limited and caught.value.code == 32
    assert caught.value.retry_after == 120  # Graph says so in whole minutes: 2
    assert facebook.verify(creds).platform_user_id == str(page["page_id"])  # reads still work
    sandbox.admin.storm(0, platform="facebook")
    assert facebook.publish(creds, "after the storm").platform_id


def test_an_outage_refuses_connections_at_the_platforms_door_until_it_ends(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    x_door = sandbox.admin.door("x")
    graph_door = sandbox.admin.door("facebook")
    assert x_door != graph_door != sandbox.url
    through_door = route_session(requests.Session(), x_door)
    answer = through_door.post(POST_URL, json={"text": "before"}, auth=signed(alice), timeout=5)
    assert answer.status_code == 201  # the door carries X's API as the sandbox's port does

    sandbox.admin.outage("x", 1.5)
    with pytest.raises(requests.ConnectionError) as caught:
        through_door.post(POST_URL, json={"text": "during"}, auth=signed(alice), timeout=5)
    assert isinstance(root_cause(caught.value), ConnectionRefusedError)
    error = classify_transport_error(caught.value, action="X publish")
    assert isinstance(error, TransientError) and error.not_sent  # nothing reached X
    # only X is down, and only at its door
    assert requests.get(graph_door + "/_sandbox/app", timeout=5).ok
    assert post(sandbox, alice, "on the sandbox's own port").status_code == 201

    time.sleep(2)  # the outage ends: the same door opens again
    answer = through_door.post(POST_URL, json={"text": "after"}, auth=signed(alice), timeout=5)
    assert answer.status_code == 201
    texts = [p["text"] for p in sandbox.admin.posts("x", alice["id"])]
    assert "during" not in texts and {"before", "after"} <= set(texts)


def test_an_outage_can_be_ended_early_and_bad_lengths_are_refused(sandbox: SandboxHandle) -> None:
    door = sandbox.admin.door("facebook")
    assert sandbox.admin.outage("facebook", 600)["down_until"] is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(door + "/_sandbox/app", timeout=5)
    assert sandbox.admin.outage("facebook", 0)["down_until"] is None
    assert requests.get(door + "/_sandbox/app", timeout=5).ok
    with pytest.raises(requests.HTTPError):
        sandbox.admin.outage("facebook", -1)
    with pytest.raises(requests.HTTPError):
        sandbox.admin.outage("myspace", 10)
