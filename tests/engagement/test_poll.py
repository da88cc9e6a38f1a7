"""Engagement rounds against the sandbox's engagement simulation, a week in seconds."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import EngagementSnapshot
from tests.engagement.conftest import World


def series(world: World, delivery_id: int, metric: str) -> list[tuple[str, int | None, bool]]:
    with world.sessions() as session:
        rows = session.scalars(
            select(EngagementSnapshot)
            .where(EngagementSnapshot.delivery_id == delivery_id)
            .where(EngagementSnapshot.metric == metric)
            .order_by(EngagementSnapshot.taken_at)
        ).all()
        return [(r.label, r.value, r.available) for r in rows]


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


def test_private_x_metrics_come_with_the_authors_token_inside_30_days(world: World):
    account = world.x_account(followers=20000)
    delivery = world.send(world.post(), account)
    world.advance(3600)
    world.poller().run()
    [(label, clicks, available)] = series(world, delivery, "link_clicks")
    assert label == "1h" and available and clicks is not None
