"""Rules and costs before a release: X's per-app cap, per-user cap, prices, identical text."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.storage.models import Delivery, DeliveryState
from bot.storage.vault import Vault
from tests.support.pledges import (
    RELEASE,
    Pledger,
    five_pledges_and_three_union_posts,
    make_campaign,
    report,
)


def test_cost_uses_the_url_price_for_posts_with_a_link(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, variants=["No link here either"])
    for user in "123":
        pledge_factory("fujitsu", user)
    pledge_factory("fujitsu", "4", platform="facebook")
    r = report(sessions)
    assert (r.x_posts, r.x_with_url, r.facebook_posts) == (3, 3, 1)
    assert r.cost_usd == 0.60  # 3 × $0.20: the tagged link goes into every X text


def test_cost_without_a_link_is_the_plain_price(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, link=None)
    for user in "12":
        pledge_factory("fujitsu", user)
    pledge_factory("fujitsu", "3", wording="see https://union.org.uk/x")
    r = report(sessions, X_POST_COST_USD="0.015", X_POST_WITH_URL_COST_USD="0.2")
    assert (r.x_posts, r.x_with_url) == (3, 1)
    assert r.cost_usd == 0.23


def test_it_warns_when_more_accounts_than_allowed_post_identical_text(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, link=None, variants=["Second wording"])
    for user in range(7):
        pledge_factory("fujitsu", str(user))
    quiet = report(sessions, IDENTICAL_TEXT_WARN_ACCOUNTS="4")
    assert quiet.identical == [] and quiet.warnings == []  # 4 and 3: variants split them
    loud = report(sessions, IDENTICAL_TEXT_WARN_ACCOUNTS="3")
    assert loud.identical == [("Stop the victimisation of reps at Fujitsu", 4)]
    assert "identical" in loud.warnings[0]


def test_it_says_how_many_go_and_when_the_rest_would_past_the_app_cap(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    # the app sent 3 posts in the day before the release, 20 h and 10 h and 1 h before
    five_pledges_and_three_union_posts(sessions, vault, pledge_factory, 30, 30, 30)
    with sessions() as s:
        for delivery, hours in zip(
            s.query(Delivery).order_by(Delivery.id), (20, 10, 1), strict=True
        ):
            delivery.state = DeliveryState.SENT
            delivery.sent_at = RELEASE - timedelta(hours=hours)
        s.commit()
    r = report(sessions, X_APP_DAILY_POST_LIMIT="6")
    assert (r.app_used_before, r.go_at_release, r.deferred) == (3, 3, 2)
    # two slots come back when the two oldest posts (20 h and 10 h before) turn 24 h old
    assert r.deferred_until == RELEASE + timedelta(hours=14)
    assert "3 of the 5 X posts would go at the release and 2" in r.warnings[0]


def test_each_account_posts_once_so_the_per_user_cap_is_not_near(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "1")
    r = report(sessions)
    assert r.busiest_account_posts == 1 and r.warnings == []
    assert any("would go at the release" in line for line in r.lines())


def test_posts_already_queued_for_the_day_before_the_release_count_against_the_app_cap(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    # Checked days ahead: nothing is sent yet, but 3 X posts are queued for the evening
    # before the release. X counts them in the same rolling 24 h.
    five_pledges_and_three_union_posts(sessions, vault, pledge_factory, 12, 11, 10)
    r = report(sessions, X_APP_DAILY_POST_LIMIT="6")
    assert (r.app_used_before, r.go_at_release, r.deferred) == (3, 3, 2)
    assert r.deferred_until == RELEASE + timedelta(hours=13)  # the 2nd queued turns 24 h old
    assert "3 of the 5 X posts would go at the release" in r.warnings[0]


def test_the_cost_of_a_single_post_is_shown_to_the_tenth_of_a_cent(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, link=None)
    pledge_factory("fujitsu", "1")
    lines = report(sessions).lines()
    assert any("estimated X cost: $0.015 " in line for line in lines), lines


def test_bluesky_pledges_are_counted_and_a_window_too_short_for_the_per_address_limit_warns(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:

    with sessions() as s:
        pc = make_campaign(s, link=None, window=0)
        pc.message = {**pc.message, "bluesky": "Stand with the Fujitsu reps"}
        s.commit()
    for user in range(4):
        pledge_factory("fujitsu", f"did:plc:u{user}", platform="bluesky")
    pledge_factory("fujitsu", "9")
    quiet = report(sessions)
    assert (quiet.x_posts, quiet.facebook_posts, quiet.bluesky_posts) == (1, 0, 4)
    assert quiet.bluesky_minutes_at_worst == 0 and quiet.warnings == []
    assert any("Bluesky: 4 posts" in line for line in quiet.lines())
    loud = report(sessions, IDENTICAL_TEXT_WARN_ACCOUNTS="3")
    assert any("4 Bluesky accounts would post identical text" in w for w in loud.warnings)


def test_release_check_says_how_long_each_network_takes_and_which_is_spread_longer(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        pc = make_campaign(s, link=None, window=0)
        pc.message = {**pc.message, "mastodon": "Stand with the Fujitsu reps"}
        s.commit()
    for user in range(300):
        pledge_factory("fujitsu", f"m{user}", platform="mastodon", handle=f"u{user}@big.example")
    pledge_factory("fujitsu", "m-small", platform="mastodon", handle="solo@small.example")
    pledge_factory("fujitsu", "9")
    r = report(sessions, IDENTICAL_TEXT_WARN_ACCOUNTS="1000")
    # 300 x 1.1 = 330 requests at 300 per 5 minutes on big.example: 5.5 -> 6 minutes
    assert r.durations_json() == [
        {
            "platform": "x",
            "posts": 1,
            "minutes": 0,
            "needed_minutes": 0,
            "bound": "window",
            "stretched": False,
        },
        {
            "platform": "mastodon",
            "posts": 301,
            "minutes": 6,
            "needed_minutes": 6,
            "bound": "per_instance",
            "stretched": True,
            "instance": "big.example",
            "instance_posts": 300,
        },
    ]
    lines = r.lines()
    assert "X: 1 post, all at the release time" in lines
    assert any(
        line.startswith("Mastodon: 301 posts; the largest instance, big.example, has 300")
        and line.endswith("they will be spread over 6 min")
        for line in lines
    ), lines
    assert "the release takes at least 6 min" in lines
    # an operator whose servers set no per-address limit says so in the settings
    free = report(
        sessions, IDENTICAL_TEXT_WARN_ACCOUNTS="1000", MASTODON_REQUESTS_PER_5_MINUTES="0"
    )
    assert [d.minutes for d in free.durations] == [0, 0] and free.release_minutes == 0
