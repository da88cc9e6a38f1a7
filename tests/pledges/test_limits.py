"""How long each network's share of a release takes, and the planner spreading it."""

from __future__ import annotations

import random

from bot.platforms import PLATFORM_LABELS
from bot.pledges import limits
from bot.pledges.release import plan_offsets
from bot.storage.models import Pledge


def test_six_thousand_bluesky_posts_need_eleven_minutes_at_the_per_address_limit() -> None:
    d = limits.duration("bluesky", ["h"] * 6000, window_minutes=0)
    # 6,000 posts x 1.1 requests = 6,600 requests at 3,000 per 5 minutes
    assert (d.needed_minutes, d.minutes, d.bound) == (11, 11, limits.Bound.PER_ADDRESS)
    assert limits.sentence(d, PLATFORM_LABELS, 0) == (
        "Bluesky: 6,000 posts need at least 11 min at Bluesky's per-address limit "
        "(3,000 requests per 5 minutes); they will be spread over 11 min"
    )


def test_seven_thousand_bluesky_posts_need_thirteen_minutes_and_no_budget_needs_none() -> None:
    # 7,700 requests at 600 a minute: 12.8 -> 13
    assert limits.minutes_for(7000, 3000, 5) == 13
    unlimited = limits.Budgets(bluesky=0, mastodon=0)
    assert limits.duration("bluesky", ["h"] * 7000, 0, unlimited).minutes == 0
    assert limits.duration("mastodon", ["a@one.example"] * 7000, 0, unlimited).minutes == 0
    tighter = limits.duration("bluesky", ["h"] * 7000, 0, limits.Budgets(bluesky=1000))
    assert tighter.minutes == 39 and "(1,000 requests per 5 minutes)" in limits.sentence(
        tighter, PLATFORM_LABELS, 0
    )


def test_bluesky_posts_that_fit_in_one_budget_may_all_go_at_once() -> None:
    d = limits.duration("bluesky", ["h"] * 2727, window_minutes=0)  # 2,999.7 requests
    assert (d.needed_minutes, d.minutes, d.stretched) == (0, 0, False)
    assert limits.duration("bluesky", ["h"] * 2728, window_minutes=0).needed_minutes == 6


def test_a_window_longer_than_the_limit_needs_is_kept() -> None:
    d = limits.duration("bluesky", ["h"] * 6000, window_minutes=30)
    assert (d.needed_minutes, d.minutes, d.stretched) == (11, 30, False)
    assert limits.sentence(d, PLATFORM_LABELS, 30) == (
        "Bluesky: 6,000 posts over the 30-minute window"
    )


def test_the_largest_mastodon_instance_bounds_the_mastodon_posts() -> None:
    handles = [f"u{i}@big.example" for i in range(1000)] + [
        f"u{i}@Small.Example" for i in range(200)
    ]
    d = limits.duration("mastodon", handles, window_minutes=10)
    # 1,000 x 1.1 = 1,100 requests at 300 per 5 minutes: 18.3 -> 19 minutes
    assert (d.instance, d.instance_posts, d.needed_minutes, d.minutes) == (
        "big.example",
        1000,
        19,
        19,
    )
    assert d.bound == limits.Bound.PER_INSTANCE
    assert "the largest instance, big.example, has 1,000" in limits.sentence(d, PLATFORM_LABELS, 10)


def test_many_small_mastodon_instances_need_no_more_than_the_window() -> None:
    handles = [f"u@i{i}.example" for i in range(5000)]  # one post per instance
    d = limits.duration("mastodon", handles, window_minutes=0)
    assert (d.posts, d.instance_posts, d.minutes, d.stretched) == (5000, 1, 0, False)


def test_x_and_facebook_take_the_window_whatever_their_count() -> None:
    for platform in ("x", "facebook"):
        d = limits.duration(platform, ["h"] * 20000, window_minutes=15)
        assert (d.minutes, d.needed_minutes, d.stretched) == (15, 0, False)
    assert limits.sentence(limits.duration("x", ["h"], 0), PLATFORM_LABELS, 0) == (
        "X: 1 post, all at the release time"
    )


def _pledges(platform: str, count: int, first_id: int) -> list[Pledge]:
    return [Pledge(platform=platform, account_id=first_id + i) for i in range(count)]


def test_the_planner_spreads_only_the_network_whose_limit_needs_longer_than_the_window() -> None:
    ready = _pledges("x", 50, 1) + _pledges("bluesky", 6000, 100) + _pledges("facebook", 5, 9000)
    random.Random(3).shuffle(ready)
    handles = {p.account_id or 0: "someone.bsky.social" for p in ready}
    offsets, stretched = plan_offsets(ready, handles, 5, random.Random(1))
    assert [d.platform for d in stretched] == ["bluesky"]
    by = {
        platform: sorted(o for p, o in zip(ready, offsets, strict=True) if p.platform == platform)
        for platform in ("x", "facebook", "bluesky")
    }
    assert len(by["bluesky"]) == 6000
    # Bluesky over 11 minutes, evenly: any 5 minutes hold what the budget allows with
    # its 1.1 requests per post (jitter may let one more slot in), well under 3,000 posts
    assert 10 * 60 < by["bluesky"][-1] <= 11 * 60
    for start in range(0, 11 * 60, 30):
        inside = sum(1 for o in by["bluesky"] if start <= o < start + 300)
        assert inside <= limits.BLUESKY_REQUESTS_PER_ADDRESS / 1.1 + 1, (start, inside)
    # the others keep the 5-minute window
    assert all(0 <= o <= 5 * 60 for o in by["x"] + by["facebook"])


def test_the_planner_leaves_offsets_as_before_when_no_limit_is_in_the_way() -> None:
    from bot.pledges.release import spread

    ready = _pledges("x", 30, 1) + _pledges("bluesky", 20, 100) + _pledges("mastodon", 10, 200)
    handles = {p.account_id or 0: "a@one.example" for p in ready}
    offsets, stretched = plan_offsets(ready, handles, 7, random.Random(5))
    assert stretched == []
    assert offsets == spread(len(ready), 7, random.Random(5))


def test_the_planner_spreads_the_mastodon_posts_of_one_big_instance() -> None:
    ready = _pledges("mastodon", 400, 1) + _pledges("x", 3, 1000)
    handles = {p.account_id or 0: f"u{p.account_id}@big.example" for p in ready}
    offsets, stretched = plan_offsets(ready, handles, 0, random.Random(2))
    # 400 x 1.1 = 440 requests at 300 per 5 minutes: 7.3 -> 8 minutes
    assert [(d.platform, d.minutes) for d in stretched] == [("mastodon", 8)]
    mastodon = [o for p, o in zip(ready, offsets, strict=True) if p.platform == "mastodon"]
    assert max(mastodon) > 7 * 60 and len(set(mastodon)) == 400
    assert [o for p, o in zip(ready, offsets, strict=True) if p.platform == "x"] == [0.0] * 3
