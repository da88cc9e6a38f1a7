"""Simulated engagement: deterministic per (seed, post), non-decreasing, saturating."""

from __future__ import annotations

import pytest

from bot.sandbox import engagement
from bot.sandbox.engagement import metrics

HOUR = 3600.0
DAY = 24 * HOUR


def test_it_returns_the_public_metrics_keys_for_x_by_default():
    got = metrics("x", followers=1000, age_seconds=HOUR, seed=1, post_id="1")
    assert set(got) == set(engagement.X_PUBLIC_KEYS)
    assert all(isinstance(v, int) for v in got.values())


def test_it_returns_non_public_and_organic_families_for_x():
    non_public = engagement.x_non_public(followers=1000, age_seconds=DAY, seed=1, post_id="1")
    organic = engagement.x_organic(followers=1000, age_seconds=DAY, seed=1, post_id="1")
    public = metrics("x", followers=1000, age_seconds=DAY, seed=1, post_id="1")
    assert set(non_public) == {"impression_count", "url_link_clicks", "user_profile_clicks"}
    assert set(organic) == set(engagement.X_ORGANIC_KEYS)
    # One post has one set of curves: impressions agree across families.
    assert non_public["impression_count"] == organic["impression_count"]
    assert organic["impression_count"] == public["impression_count"]
    assert organic["like_count"] == public["like_count"]


def test_it_returns_reactions_comments_shares_and_views_for_facebook():
    got = metrics("facebook", followers=5000, age_seconds=DAY, seed=7, post_id="9_1")
    assert set(got) == {"reactions", "comments", "shares", "post_media_view"}
    assert got["post_media_view"] > got["reactions"] > 0


def test_it_is_zero_before_the_post_goes_out():
    got = metrics("facebook", followers=5000, age_seconds=0, seed=7, post_id="9_1")
    assert set(got.values()) == {0}
    assert set(metrics("x", followers=10, age_seconds=-5, seed=1).values()) == {0}


def test_it_gives_the_same_numbers_for_the_same_seed_and_post():
    a = metrics("x", followers=2000, age_seconds=5 * HOUR, seed=42, post_id="123")
    b = metrics("x", followers=2000, age_seconds=5 * HOUR, seed=42, post_id="123")
    assert a == b


def test_it_gives_different_numbers_for_different_posts_or_seeds():
    base = metrics("x", followers=20000, age_seconds=DAY, seed=42, post_id="123")
    assert base != metrics("x", followers=20000, age_seconds=DAY, seed=42, post_id="124")
    assert base != metrics("x", followers=20000, age_seconds=DAY, seed=43, post_id="123")


@pytest.mark.parametrize("platform", ["x", "facebook"])
def test_it_never_decreases_as_the_post_ages(platform):
    previous = metrics(platform, followers=3000, age_seconds=0, seed=3, post_id="p")
    for minute in range(1, 60 * 24 * 10, 7):
        now = metrics(platform, followers=3000, age_seconds=minute * 60.0, seed=3, post_id="p")
        assert all(now[k] >= previous[k] for k in now), (minute, previous, now)
        previous = now


def test_it_rises_fast_in_the_first_hours_then_saturates_over_days():
    at = {
        age: metrics("facebook", followers=100_000, age_seconds=age, seed=1, post_id="p")[
            "post_media_view"
        ]
        for age in (HOUR, 6 * HOUR, 3 * DAY, 30 * DAY, 60 * DAY)
    }
    assert at[6 * HOUR] > 2 * at[HOUR] > 0
    assert at[3 * DAY] > at[6 * HOUR]
    # Saturated: the last month adds almost nothing.
    assert at[60 * DAY] - at[30 * DAY] <= at[60 * DAY] * 0.01


def test_it_scales_with_followers():
    small = metrics("x", followers=100, age_seconds=DAY, seed=1, post_id="p")
    big = metrics("x", followers=100_000, age_seconds=DAY, seed=1, post_id="p")
    assert big["impression_count"] > 100 * small["impression_count"] / 10
    assert big["like_count"] > small["like_count"]


def test_it_gives_a_new_account_a_few_views():
    got = metrics("x", followers=0, age_seconds=DAY, seed=1, post_id="p")
    assert got["impression_count"] > 0


def test_it_rejects_an_unknown_platform_or_kind():
    with pytest.raises(ValueError, match="platform"):
        metrics("myspace", followers=1, age_seconds=1, seed=1)
    with pytest.raises(ValueError, match="kind"):
        metrics("x", followers=1, age_seconds=1, seed=1, kind="secret")
