"""X read costs: the projection of a plan, once per post per UTC day, and the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.engagement import costs
from tests.support.engagement import World


def at_ten_utc(world: World) -> None:
    today = world.clock.now.astimezone(UTC)
    world.clock.now = datetime(today.year, today.month, today.day, 10, tzinfo=UTC)


def test_the_projection_counts_one_read_per_post_per_utc_day(world: World):
    at_ten_utc(world)
    account = world.x_account()
    for _ in range(3):
        world.send(world.post(), account)
    page = world.facebook_page()
    world.send(world.post(), page)  # Facebook reads are free
    same_day = (("1h", 3600), ("2h", 7200), ("24h", 86400))  # 11:00 and 12:00 share a day
    with world.sessions() as session:
        projection = costs.project(session, world.campaign_id, same_day, 0.005)
    assert projection.x_posts == 3
    assert projection.reads == 6
    assert abs(projection.cost_usd - 0.03) < 1e-9
    assert projection.per_offset == [("1h", 3), ("2h", 0), ("24h", 3)]


def test_the_projection_of_a_sampled_release_bills_the_sample_at_every_snapshot(world: World):
    post = world.post()
    for _ in range(6):
        world.send(post, world.x_account())
    with world.sessions() as session:
        projection = costs.project(
            session, world.campaign_id, (("1h", 3600), ("7d", 7 * 86400)), 0.005, sample_size=2
        )
    assert (projection.reads, projection.sampled_releases) == (4, 1)


def test_the_projection_samples_a_pledge_release_as_one_release_not_post_by_post(world: World):
    world.release("x", 30)  # 30 posts, one per pledge
    with world.sessions() as session:
        projection = costs.project(
            session, world.campaign_id, (("1h", 3600), ("7d", 7 * 86400)), 0.005, sample_size=5
        )
    assert (projection.x_posts, projection.reads, projection.sampled_releases) == (30, 10, 1)


def test_reading_a_post_twice_on_one_utc_day_is_billed_once(world: World):
    at_ten_utc(world)
    world.send(world.post(), world.x_account())
    poller = world.poller()
    assert poller.run(refresh=True).billable_reads == 1
    world.clock.now += timedelta(hours=1)
    assert poller.run(refresh=True).billable_reads == 0
    world.clock.now += timedelta(days=1)
    assert poller.run(refresh=True).billable_reads == 1
    with world.sessions() as session:
        assert abs(costs.spent_usd(session, world.campaign_id, 0.005) - 0.01) < 1e-9


def test_the_campaign_cap_stops_x_reads_once_spent_but_not_facebook(world: World):
    account, page = world.x_account(), world.facebook_page()
    for _ in range(3):
        world.send(world.post(), account)
    world.send(world.post(), page)
    world.policy(cap_usd=0.01)  # two reads
    world.advance(3600)
    result = world.poller().run()
    assert (result.read, result.capped, result.billable_reads) == (3, 1, 2)
    world.advance(23 * 3600)
    result = world.poller().run()
    assert (result.read, result.capped) == (1, 3)  # only Facebook is read


def test_allowance_is_how_many_reads_the_cap_leaves():
    assert costs.allowance(None, 5.0, 0.005) is None
    assert costs.allowance(1.0, 0.99, 0.005) == 2
    assert costs.allowance(1.0, 1.5, 0.005) == 0
