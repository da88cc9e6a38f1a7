"""Engagement rounds against the sandbox's engagement simulation, a week in seconds."""

from __future__ import annotations

import logging

from sqlalchemy import update

from bot.storage.models import Account, Delivery
from tests.support.engagement import World, series


def test_x_and_facebook_series_grow_at_each_offset_and_keep_every_snapshot(world: World):
    x_account, page = world.x_account(followers=5000), world.facebook_page(followers=5000)
    post = world.post()
    tweet = world.send(post, x_account)
    fb_post = world.send(post, page)
    poller = world.poller()
    assert poller.run().due == 0  # nothing is due before the first hour
    for hours in (1, 23, 6 * 24, 22 * 24):
        world.advance(hours * 3600)
        result = poller.run()
        assert result.read == 2 and result.deferred == 0, result
    likes = series(world, tweet, "likes")
    assert [label for label, _, _ in likes] == ["1h", "24h", "7d", "29d"]
    values = [v for _, v, _ in likes]
    assert values == sorted(values) and values[-1] > values[0] > 0
    views = [v for _, v, _ in series(world, fb_post, "views")]
    assert views == sorted(views) and views[-1] > views[0] > 0
    world.advance(3 * 24 * 3600)
    assert poller.run().due == 0  # every offset taken: the plan is finished


def test_mastodon_favourites_boosts_and_replies_grow_and_views_are_not_available(world: World):
    account = world.mastodon_account(followers=5000)
    status = world.send(world.post(), account)
    poller = world.poller()
    for hours in (1, 23, 6 * 24):
        world.advance(hours * 3600)
        assert poller.run().read == 1
    favourites = [v for _, v, _ in series(world, status, "likes")]
    assert favourites == sorted(favourites) and favourites[-1] > 0
    assert [a for _, _, a in series(world, status, "reposts")] == [True, True, True]
    assert [(v, a) for _, v, a in series(world, status, "views")] == [(None, False)] * 3


def test_a_mastodon_status_is_still_read_after_its_token_is_deleted(world: World):
    account = world.mastodon_account(followers=3000)
    status = world.send(world.post(), account)
    with world.sessions() as session:
        session.execute(update(Account).where(Account.id == account).values(credentials=""))
        session.commit()
    world.advance(3600)
    assert world.poller().run().read == 1
    [(label, likes, available)] = series(world, status, "likes")
    assert label == "1h" and available and likes is not None


def test_private_x_metrics_come_with_the_authors_token_inside_30_days(world: World):
    account = world.x_account(followers=20000)
    delivery = world.send(world.post(), account)
    world.advance(3600)
    world.poller().run()
    [(label, clicks, available)] = series(world, delivery, "link_clicks")
    assert label == "1h" and available and clicks is not None


def delivery(world: World, delivery_id: int) -> Delivery:
    with world.sessions() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return found


def test_a_deleted_x_post_is_marked_deleted_and_never_polled_again(world: World):
    account = world.x_account()
    kept, gone = world.send(world.post(), account), world.send(world.post(), account)
    x = world.platforms["x"]
    x.user_client(world.creds[account]).delete_tweet(
        delivery(world, gone).platform_ids[0], user_auth=True
    )
    poller = world.poller()
    world.advance(3600)
    result = poller.run()
    assert (result.read, result.deleted) == (1, 1)
    assert delivery(world, gone).platform_deleted_at is not None
    assert series(world, gone, "likes") == []
    world.advance(24 * 3600)
    result = poller.run()
    assert (result.due, result.read, result.deleted) == (1, 1, 0)
    assert len(series(world, kept, "likes")) == 2


def test_a_deleted_facebook_post_in_a_batch_is_found_and_the_others_still_read(world: World):
    page = world.facebook_page()
    ids = [world.send(world.post(), page) for _ in range(3)]
    fb = world.platforms["facebook"]
    fb.graph_client(world.creds[page].token).delete_object(delivery(world, ids[1]).platform_ids[0])
    world.advance(3600)
    result = world.poller().run()
    assert (result.read, result.deleted) == (2, 1)
    assert delivery(world, ids[1]).platform_deleted_at is not None
    assert [len(series(world, i, "likes")) for i in ids] == [1, 0, 1]
    world.advance(24 * 3600)
    assert world.poller().run().due == 2


def test_metrics_the_platform_does_not_give_are_stored_as_unavailable_never_zero(world: World):
    page = world.facebook_page(followers=50000)
    account = world.x_account(followers=50000)
    post = world.post()
    fb_post, tweet = world.send(post, page), world.send(post, account)
    # Graph retires post_media_view (the invalid-metric error, as in its Nov 2025
    # deprecations); the X token is revoked, so only public metrics can be read, with
    # the app's bearer token.
    world.sandbox.admin._call("POST", "/facebook/insights", json={"retired": ["post_media_view"]})
    world.sandbox.admin.revoke("x", world.creds[account].token)
    poller = world.poller()
    for hours in (1, 23):
        world.advance(hours * 3600)
        assert poller.run().read == 2
    assert series(world, fb_post, "views") == [("1h", None, False), ("24h", None, False)]
    assert series(world, tweet, "link_clicks") == [("1h", None, False), ("24h", None, False)]
    assert all(v and v > 0 for _, v, _ in series(world, tweet, "views"))  # public impressions
    assert all(v is not None for _, v, _ in series(world, fb_post, "likes"))


def test_facebook_posts_are_read_fifty_a_call_per_page(world: World):
    big, small = world.facebook_page(), world.facebook_page()
    sent = [world.send(world.post(), big) for _ in range(60)]
    sent += [world.send(world.post(), small) for _ in range(5)]
    world.advance(3600)
    result = world.poller().run()
    assert (result.due, result.read, result.batches) == (65, 65, 3)
    assert result.calls == 3  # fields and insights together: 50 + 10 of one Page, 5 of the other
    assert all(series(world, d, "views")[0][1] for d in sent)


def test_another_pages_post_is_left_for_later_and_the_pages_own_posts_read(world: World):
    mine, theirs = world.facebook_page(), world.facebook_page()
    own = [world.send(world.post(), mine) for _ in range(4)]
    foreign = world.send(world.post(), theirs)
    with world.sessions() as session:
        # A post recorded under the wrong Page (e.g. a Page reconnected as another).
        session.get(Delivery, foreign).account_id = mine  # type: ignore[union-attr]
        session.commit()
    world.advance(3600)
    result = world.poller().run()
    assert (result.read, result.deferred, result.deleted) == (4, 1, 0)
    assert all(series(world, d, "likes") for d in own)
    assert series(world, foreign, "likes") == []


def test_private_x_metrics_are_unavailable_after_30_days_even_with_the_token(world: World):
    account = world.x_account(followers=20000)
    tweet = world.send(world.post(), account)
    world.advance(31 * 24 * 3600)
    world.poller().run(refresh=True)
    [(label, value, available)] = series(world, tweet, "link_clicks")
    assert (label, value, available) == ("refresh", None, False)
    [(_, likes, _)] = series(world, tweet, "likes")
    assert likes and likes > 0


def test_a_429_defers_the_rest_of_the_round_without_waiting(world: World):
    world.sandbox.admin.set_rate_limits(
        x_posts_per_user=1000, x_reads_per_user=1, reset_counters=True
    )
    account = world.x_account()
    for _ in range(150):
        world.send(world.post(), account)
    world.advance(3600)
    poller = world.poller(concurrency=1)
    first = poller.run()
    assert first.read == 100 and first.deferred == 50 and first.batches == 2
    again = poller.run()  # the gate is closed: no call at all, nothing waits
    assert (again.due, again.read, again.batches, again.deferred) == (50, 0, 0, 50)


def test_a_page_whose_token_was_deleted_is_moved_along_its_plan_not_retried_every_round(
    world: World,
):
    gone, refused = world.facebook_page(), world.facebook_page()
    spent = world.send(world.post(), gone)  # a pledge post whose token went after the release
    broken = world.send(world.post(), refused)  # a token there but needing reconnecting
    with world.sessions() as session:
        session.execute(update(Account).where(Account.id == gone).values(credentials=""))
        session.execute(
            update(Account).where(Account.id == refused).values(status="needs_reconnect")
        )
        session.commit()
    world.advance(3600)
    poller = world.poller()
    first = poller.run()
    assert (first.due, first.read, first.no_token, first.deferred) == (2, 0, 1, 1)
    assert delivery(world, spent).engagement_stage == 1  # on to the 24h snapshot
    assert delivery(world, broken).engagement_stage == 0  # may be reconnected: still due
    assert series(world, spent, "likes") == []  # no reading is not a reading of 0
    again = poller.run()
    assert (again.due, again.no_token, again.deferred) == (1, 0, 1)


def test_the_round_line_is_info_when_something_was_read_and_debug_when_nothing_was(
    world: World, caplog
):
    caplog.set_level(logging.DEBUG, logger="bot.engagement.poll")
    world.send(world.post(), world.x_account())
    poller = world.poller()

    def round_levels() -> list[int]:
        caplog.clear()
        poller.run()
        return [r.levelno for r in caplog.records if r.getMessage().startswith("engagement round")]

    world.policy(cap_usd=0.0)  # due, but the campaign may not spend on reads: none read
    world.advance(3600)
    assert round_levels() == [logging.DEBUG]
    world.policy(cap_usd=None)
    world.advance(23 * 3600)  # a capped snapshot is skipped: the next is the 24 h one
    assert round_levels() == [logging.INFO]
