"""Sandbox time: accelerated for rehearsals, while rate limits keep real seconds."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import tweepy

from bot.sandbox.options import SandboxOptions
from bot.sandbox.state import SandboxClock
from bot.sandbox.testing import running_sandbox
from tests.sandbox.routing import x_client


def test_an_accelerated_clock_runs_faster_than_the_wall() -> None:
    clock = SandboxClock(acceleration=100.0)
    start = clock.time()
    time.sleep(0.05)
    assert clock.time() - start >= 4.9


def test_changing_acceleration_does_not_jump() -> None:
    clock = SandboxClock(acceleration=50.0)
    before = clock.time()
    clock.set_acceleration(1.0)
    assert abs(clock.time() - before) < 0.5


def test_posts_are_stamped_in_sandbox_time_but_limits_reset_in_wall_time() -> None:
    with running_sandbox(SandboxOptions(time_acceleration=3600.0)) as sandbox:
        alice = sandbox.admin.create_x_user("alice")
        client = x_client(sandbox.url, alice, return_type=dict)
        first = client.create_tweet(text="first", user_auth=True)["data"]["id"]
        time.sleep(0.2)  # 12 sandbox minutes
        response = client.get_tweet(first, tweet_fields=["created_at"], user_auth=True)
        created = datetime.fromisoformat(response["data"]["created_at"].replace("Z", "+00:00"))
        assert 500 < sandbox.admin.advance_clock(0)["timestamp"] - created.timestamp() < 7200
        # An hour of sandbox time passes every wall second, yet the limit window still
        # ends 15 real minutes from now: clients sleep in real seconds.
        plain = x_client(sandbox.url, alice)
        sandbox.admin.set_rate_limits(x_posts_per_user=1, reset_counters=True)
        plain.create_tweet(text="one", user_auth=True)
        with pytest.raises(tweepy.TooManyRequests) as limited:
            plain.create_tweet(text="two", user_auth=True)
        reset = int(limited.value.response.headers["x-rate-limit-reset"])
        assert time.time() + 15 * 60 - 5 < reset <= time.time() + 15 * 60 + 2
