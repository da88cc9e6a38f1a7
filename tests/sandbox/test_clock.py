"""Sandbox time: only engagement runs accelerated; what API clients observe keeps real time.

make run's sandbox runs at 1000x so a volunteer sees a week of engagement in ~10 minutes,
while a person pledging through the browser, Clarion's reconciliation (start_time = real
now - 5 min) and X's duplicate window all need the real clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import facebook
import pytest
import requests
import tweepy

from bot.platforms.base import Credentials
from bot.sandbox.clock import SandboxClock
from bot.sandbox.engagement import metrics
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle, running_sandbox
from tests.support.engagement import make_platforms
from tests.support.graph import GRAPH_VERSION, rerouted_session
from tests.support.routing import x_client

FAST = 1000.0  # make run's default SANDBOX_TIME_ACCELERATION
REDIRECT = "https://clarion.example/fb/callback"


def moment(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00").replace("+0000", "+00:00")).timestamp()


# --- the clock on its own -------------------------------------------------------------


def test_protocol_time_is_real_time_even_at_1000x() -> None:
    clock = SandboxClock(acceleration=FAST)
    time.sleep(0.05)
    assert abs(clock.time() - time.time()) < 0.01
    assert abs(clock.now().timestamp() - time.time()) < 0.01


def test_engagement_ages_posts_acceleration_times_faster_than_real_time() -> None:
    clock = SandboxClock(acceleration=100.0)
    created = clock.time()
    started = time.monotonic()
    time.sleep(0.05)
    age = clock.engagement_age(created)
    elapsed = time.monotonic() - started
    assert 0.05 * 100 - 0.5 <= age <= elapsed * 100 + 0.5
    assert clock.engagement_age(clock.time() + 60) == 0  # not out yet: no engagement


def test_advance_moves_protocol_and_engagement_time_by_the_same_seconds() -> None:
    clock = SandboxClock(acceleration=FAST)
    created = clock.time()
    started = time.monotonic()
    clock.advance(3600)
    age = clock.engagement_age(created)
    elapsed = time.monotonic() - started
    assert 3600 <= clock.time() - created < 3600 + elapsed + 0.01
    assert 3600 <= age <= 3600 + elapsed * FAST + 1  # an hour, not 1000 hours
    assert clock.advanced == 3600


def test_changing_acceleration_keeps_the_engagement_already_reached() -> None:
    clock = SandboxClock(acceleration=FAST)
    created = clock.time()
    time.sleep(0.05)
    clock.set_acceleration(1.0)
    reached = clock.engagement_age(created)
    time.sleep(0.05)
    assert reached >= 50
    assert reached <= clock.engagement_age(created) < reached + 1
    with pytest.raises(ValueError):
        clock.set_acceleration(0)


def test_time_never_runs_backwards() -> None:
    clock = SandboxClock()
    with pytest.raises(ValueError, match="never runs backwards"):
        clock.advance(-1)


def test_a_restored_clock_keeps_its_advances_and_what_posts_reached() -> None:
    first = SandboxClock(acceleration=FAST)
    old_post = first.time()
    first.advance(7 * 86400)
    time.sleep(0.02)
    reached = first.engagement_age(old_post)
    second = SandboxClock(acceleration=1.0)  # restarted with another rate
    second.restore(first.snapshot())
    assert second.time() >= first.time() - 0.01 and second.advanced == 7 * 86400
    age = second.engagement_age(old_post)
    assert reached <= age < reached + 100  # the downtime ran at 1000x: ms here
    time.sleep(0.02)
    assert second.engagement_age(old_post) - age < 1  # from now on at 1x


def test_a_snapshot_from_before_the_split_moves_protocol_time_to_its_sandbox_time() -> None:
    clock = SandboxClock(acceleration=FAST)
    clock.resume_from(time.time() + 86400)  # version 1 stored one accelerated time
    assert clock.time() >= time.time() + 86400 - 1
    clock.resume_from(0)  # never backwards
    assert clock.time() >= time.time() + 86400 - 1


# --- through the server, at make run's 1000x ------------------------------------------


@pytest.fixture
def fast() -> Any:
    # A short duplicate window, so a real-time window and an accelerated one differ.
    options = SandboxOptions(time_acceleration=FAST, duplicate_window_s=300)
    with running_sandbox(options) as handle:
        yield handle


def graph(handle: SandboxHandle, token: str | None = None) -> facebook.GraphAPI:
    api = facebook.GraphAPI(access_token=token, timeout=5, session=rerouted_session(handle.url))
    api.version = GRAPH_VERSION
    return api


def test_a_facebook_login_code_is_still_good_two_real_seconds_later(fast: SandboxHandle):
    app = fast.admin.app()
    session = rerouted_session(fast.url)
    url = graph(fast).get_auth_url(app["fb_app_id"], REDIRECT, ["pages_show_list"], state="s")
    answer = session.post(
        url, data={"decision": "allow", "new_user": "Ada"}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    time.sleep(2)  # 2,000 engagement seconds; the code lives 600 real ones
    token = graph(fast).get_access_token_from_code(
        code, REDIRECT, app["fb_app_id"], app["fb_app_secret"]
    )
    assert 2 * 3600 - 5 <= token["expires_in"] <= 2 * 3600  # hours, in real time
    info = graph(fast).debug_access_token(
        token["access_token"], app["fb_app_id"], app["fb_app_secret"]
    )["data"]
    assert info["is_valid"] is True
    assert abs(info["expires_at"] - (time.time() + 2 * 3600)) < 5


def test_posts_are_stamped_with_real_time_at_1000x(fast: SandboxHandle):
    alice = fast.admin.create_x_user("alice")
    client = x_client(fast.url, alice, return_type=dict)
    time.sleep(0.5)  # the sandbox has run 500 engagement seconds
    tweet = client.create_tweet(text="now", user_auth=True)["data"]
    shown = client.get_tweet(tweet["id"], tweet_fields=["created_at"], user_auth=True)
    assert abs(moment(shown["data"]["created_at"]) - time.time()) < 1
    # Snowflake ids carry the same real millisecond (X's epoch 1288834974657).
    assert abs(((int(tweet["id"]) >> 22) + 1288834974657) / 1000 - time.time()) < 1
    page = fast.admin.create_page("Real Time Street")
    api = graph(fast, page["page_token"])
    post_id = api.put_object(page["page_id"], "feed", message="now")["id"]
    created = api.get_object(post_id, fields="created_time")["created_time"]
    assert abs(moment(created) - time.time()) < 2  # Graph gives whole seconds


def test_a_search_from_five_real_minutes_ago_finds_our_post_and_not_an_older_twin(
    fast: SandboxHandle,
):
    # An identical post that went out ten minutes ago (the duplicate window is 5).
    [seeded] = fast.admin._call(
        "POST",
        "/seed",
        json={"platform": "x", "accounts": 1, "posts_per_account": 1, "age_seconds": 600},
    )["accounts"]
    client = x_client(fast.url, seeded, return_type=dict)
    ours = client.create_tweet(text="Bench post 0-0", user_auth=True)["data"]["id"]
    since = datetime.now(UTC) - timedelta(minutes=5)

    recent = client.get_users_tweets(seeded["id"], start_time=since, user_auth=True)
    assert [t["id"] for t in recent["data"]] == [ours]
    wider = client.get_users_tweets(
        seeded["id"], start_time=since - timedelta(minutes=10), user_auth=True
    )
    assert [t["id"] for t in wider["data"]] == [ours, *seeded["post_ids"]]

    x = make_platforms(fast.url, fast.admin.app())["x"]  # Clarion's reconciliation
    creds = Credentials(
        seeded["access_token"], seeded["access_token_secret"], platform_user_id=seeded["id"]
    )
    found = x.find_recent(creds, "Bench post 0-0", since)
    assert found is not None and found.platform_id == ours
    assert found.created_at is not None and abs(found.created_at.timestamp() - time.time()) < 2


def test_a_twin_made_before_an_advance_is_older_than_the_search(fast: SandboxHandle):
    alice = fast.admin.create_x_user("alice")
    client = x_client(fast.url, alice, return_type=dict)
    older = client.create_tweet(text="Rally at 6", user_auth=True)["data"]["id"]
    fast.admin.advance_clock(600)  # ten minutes pass (Clarion's test clocks move alike)
    ours = client.create_tweet(text="Rally at 6", user_auth=True)["data"]["id"]
    now = fast.admin.advance_clock(0)["timestamp"]
    since = datetime.fromtimestamp(now - 300, UTC)
    recent = client.get_users_tweets(alice["id"], start_time=since, user_auth=True)
    assert [t["id"] for t in recent["data"]] == [ours]
    assert older != ours


def test_engagement_grows_a_thousand_times_faster_than_real_time(fast: SandboxHandle):
    alice = fast.admin.create_x_user("alice", followers=50_000)
    client = x_client(fast.url, alice, return_type=dict)
    before = time.time()
    tweet_id = client.create_tweet(text="growing", user_auth=True)["data"]["id"]
    posted = time.time()
    time.sleep(1.0)
    asked = time.time()
    shown = client.get_tweet(tweet_id, tweet_fields=["public_metrics"], user_auth=True)
    answered = time.time()
    seen = shown["data"]["public_metrics"]

    def at(real_seconds: float) -> dict[str, int]:
        return metrics(
            "x",
            followers=50_000,
            age_seconds=real_seconds * FAST,
            seed=fast.options.seed,
            post_id=tweet_id,
        )

    # A real second is about 17 engagement minutes: bounded by the curve's values then.
    low, high = at(asked - posted), at(answered - before)
    assert all(low[k] <= seen[k] <= high[k] for k in seen), (low, seen, high)
    assert seen["impression_count"] > at(10.0)["impression_count"] / FAST  # not real time
    clock = fast.admin.advance_clock(0)
    assert clock["acceleration"] == FAST
    assert clock["engagement_timestamp"] - clock["timestamp"] > 900


def test_x_duplicate_window_runs_on_real_time(fast: SandboxHandle):
    alice = fast.admin.create_x_user("alice")
    client = x_client(fast.url, alice)
    client.create_tweet(text="same words", user_auth=True)
    time.sleep(0.4)  # 400 engagement seconds, past a 300 s window if it were accelerated
    with pytest.raises(tweepy.Forbidden, match="duplicate content"):
        client.create_tweet(text="same words", user_auth=True)
    fast.admin.advance_clock(301)  # the window passes when time passes
    client.create_tweet(text="same words", user_auth=True)


def test_facebook_schedules_and_duplicates_run_on_real_time(fast: SandboxHandle):
    page = fast.admin.create_page("Scheduled Street")
    api = graph(fast, page["page_token"])
    api.put_object(page["page_id"], "feed", message="once")
    time.sleep(0.4)
    with pytest.raises(facebook.GraphAPIError, match="Duplicate"):  # within 300 real s
        api.put_object(page["page_id"], "feed", message="once")
    # Eleven real minutes ahead is a valid schedule (10 min to 30 days), however fast
    # engagement runs; it is not public yet.
    held = api.put_object(
        page["page_id"],
        "feed",
        message="later",
        published="false",
        scheduled_publish_time=str(int(time.time()) + 11 * 60),
    )["id"]
    feed = api.get_connections(page["page_id"], "feed")["data"]
    assert held not in [p["id"] for p in feed]


def test_rate_limit_windows_reset_in_wall_time_whatever_the_clock_does(fast: SandboxHandle):
    alice = fast.admin.create_x_user("alice")
    plain = x_client(fast.url, alice)
    fast.admin.advance_clock(3600)
    fast.admin.set_rate_limits(x_posts_per_user=1, reset_counters=True)
    plain.create_tweet(text="one", user_auth=True)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        plain.create_tweet(text="two", user_auth=True)
    # Clients sleep in real seconds until the reset: 15 real minutes from now.
    reset = int(limited.value.response.headers["x-rate-limit-reset"])
    assert time.time() + 15 * 60 - 5 < reset <= time.time() + 15 * 60 + 2


def test_the_clock_endpoint_reports_the_rate_and_refuses_going_back(fast: SandboxHandle):
    clock = requests.get(f"{fast.url}/_sandbox/clock", timeout=5).json()
    assert clock["acceleration"] == FAST and clock["advanced_seconds"] == 0
    assert abs(clock["timestamp"] - time.time()) < 1
    refused = requests.post(f"{fast.url}/_sandbox/clock", json={"advance_seconds": -60}, timeout=5)
    assert refused.status_code == 400 and "backwards" in refused.json()["error"]
