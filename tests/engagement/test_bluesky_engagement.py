"""Bluesky engagement: likes, reposts, replies and quotes from the AppView's batch lookup;
views, which Bluesky does not show, stay unavailable."""

from __future__ import annotations

from bot.storage.models import Delivery
from tests.support.engagement import World, series


def test_bluesky_posts_are_read_25_a_call_and_grow_at_each_offset(world: World):
    account = world.bluesky_account(followers=8000)
    deliveries = [world.send(world.post(), account, text=f"Walk out {n}") for n in range(30)]
    poller = world.poller()
    for hours in (1, 23):
        world.advance(hours * 3600)
        result = poller.run()
        assert result.read == 30 and result.deferred == 0, result
        assert result.calls == 2  # 25 + 5
    likes = [v for _, v, _ in series(world, deliveries[0], "likes")]
    assert likes == sorted(likes) and likes[-1] > 0
    for metric in ("reposts", "replies", "quotes"):
        assert all(available for _, _, available in series(world, deliveries[0], metric))
    assert series(world, deliveries[0], "views") == []


def test_a_deleted_bluesky_post_is_marked_deleted(world: World):
    account = world.bluesky_account()
    delivery = world.send(world.post(), account, text="Soon gone")
    kept = world.send(world.post(), account, text="Still here")
    with world.sessions() as session:
        uri = session.get(Delivery, delivery).platform_ids[0]
    world.sandbox.admin.bluesky_delete(uri)
    world.advance(3600)
    result = world.poller().run()
    assert (result.deleted, result.read) == (1, 1)
    assert series(world, kept, "likes")
