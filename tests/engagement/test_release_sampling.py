"""Sampling a pledge release: one post per pledge, sampled as one group per platform.

bot.pledges.release writes one post (kind ``pledge``) per supporter, so a release of 400
pledges is 400 posts of one delivery each. Sampled per post, none would ever be sampled;
sampled as one group, a snapshot reads N per platform and the report counts the
release once, by its estimate.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, update

from bot.engagement.chart import cumulative
from bot.engagement.report import INTERACTIONS, build, growth, write_csv
from bot.engagement.sampling import MIN_ROUND_SAMPLE, round_size
from bot.engagement.store import MEMBER_METRIC, RELEASE_ESTIMATE_SOURCE
from bot.storage.models import Account, AccountStatus, Delivery, EngagementSnapshot, Post
from bot.web.campaign import outcome
from tests.support.engagement import World


def _rows(world: World) -> list[EngagementSnapshot]:
    with world.sessions() as session:
        return list(session.scalars(select(EngagementSnapshot).order_by(EngagementSnapshot.id)))


def _estimates(rows: list[EngagementSnapshot], label: str) -> dict[tuple[str, str], object]:
    return {
        (r.platform, r.metric): r
        for r in rows
        if r.estimated and r.delivery_id is None and r.label == label
    }


def test_a_release_of_400_pledge_posts_reads_50_per_platform_and_counts_the_estimate_once(
    world: World,
):
    world.release("x", 250, followers=4000)
    world.release("facebook", 150, followers=3000)
    world.policy(sample_size=50)
    world.advance(3600)

    result = world.poller(seed=5).run()

    assert (result.due, result.read, result.sampled_out) == (400, 100, 300)
    rows = _rows(world)
    read = {(r.platform, r.delivery_id) for r in rows if not r.estimated}
    assert Counter(platform for platform, _ in read) == {"x": 50, "facebook": 50}
    estimates = _estimates(rows, "1h")
    x_likes = estimates[("x", "likes")]
    fb_likes = estimates[("facebook", "likes")]
    assert x_likes.source == RELEASE_ESTIMATE_SOURCE  # type: ignore[attr-defined]
    assert (x_likes.population, x_likes.sample_size) == (250, 50)  # type: ignore[attr-defined]
    assert (fb_likes.population, fb_likes.sample_size) == (150, 50)  # type: ignore[attr-defined]
    members = Counter(r.platform for r in rows if r.metric == MEMBER_METRIC)
    assert members == {"x": 250, "facebook": 150}
    assert world.poller().run().due == 0  # the unread posts moved on with the sample

    with world.sessions() as session:
        built = build(session, world.slug)
        stages = growth(session, world.slug)
        series = cumulative(session, world.slug)
        page = outcome(session, world.slug)
    for platform, estimate in (("x", x_likes), ("facebook", fb_likes)):
        likes = built.platforms[platform].metrics["likes"]
        # The estimate alone: not the estimate plus the 50 sampled readings on top.
        assert likes.estimated and likes.value == estimate.value  # type: ignore[attr-defined]
        assert (likes.low, likes.high) == (estimate.low, estimate.high)  # type: ignore[attr-defined]
    total = built.total.metrics["likes"]
    assert total.value == x_likes.value + fb_likes.value  # type: ignore[attr-defined]
    assert built.total.sent == 400
    (stage,) = stages
    assert (
        stage.label == "1h" and stage.posts == 400 and stage.metrics["likes"].value == total.value
    )
    for platform in ("x", "facebook"):
        inter = sum(
            estimates[(platform, m)].value  # type: ignore[attr-defined]
            for m in INTERACTIONS
            if (platform, m) in estimates
        )
        assert series[platform][-1][1] == inter
    assert page.estimated and "(estimated)" in page.total.metrics["likes"]


def test_the_release_estimates_cover_the_true_totals_read_in_full(world: World):
    """The sandbox's engagement simulation is the truth: a full read right after."""
    ids = world.release("x", 400, followers=5000)
    with world.sessions() as session:
        # Public metrics on the app's token come 100 posts a call (the author's token
        # takes one call per supporter): 13 rounds in a second instead of five.
        session.execute(
            update(Account)
            .where(Account.id.in_(select(Delivery.account_id).where(Delivery.id.in_(ids))))
            .values(status=AccountStatus.NEEDS_RECONNECT)
        )
        session.commit()
    world.policy(sample_size=50)
    world.advance(3600)
    draws = 12
    for seed in range(draws):
        result = world.poller(seed=seed).run(refresh=True)
        assert result.read == 50 and result.sampled_out == 350
    world.policy(sample_size=None)
    world.clock.now += timedelta(seconds=1)  # tells the full read's rows apart
    assert world.poller().run(refresh=True).read == 400
    rows = _rows(world)
    last = rows[-1].taken_at
    for metric in ("likes", "views"):
        truth = sum(
            r.value or 0
            for r in rows
            if r.metric == metric and not r.estimated and r.taken_at == last
        )
        estimates = [
            r for r in rows if r.metric == metric and r.estimated and r.delivery_id is None
        ]
        assert len(estimates) == draws
        covered = sum(1 for r in estimates if r.low <= truth <= r.high)
        # A 95% interval covers the truth in ~11-12 of 12 draws; 9 leaves room for chance.
        assert covered >= 9, (metric, truth, [(r.low, r.value, r.high) for r in estimates])
    with world.sessions() as session:
        built = build(session, world.slug)
    # The latest snapshot is the full read: exact, no estimate left in the totals.
    likes = built.platforms["x"].metrics["likes"]
    assert not likes.estimated
    assert likes.value == sum(
        r.value or 0 for r in rows if r.metric == "likes" and not r.estimated and r.taken_at == last
    )


def test_a_release_due_over_two_rounds_is_counted_once_by_each_rounds_estimate(world: World):
    """Pledge releases spread their posts over a window: their snapshots come due over
    several rounds, each sampling its share of the sample size and estimated on its own."""
    world.release("x", 120)
    world.advance(600)
    world.release("x", 80)
    world.policy(sample_size=20)
    world.advance(3000)
    first = world.poller(seed=1).run()  # the first 120 are an hour old
    assert (first.due, first.read) == (120, 12)  # 20 x 120/200
    world.advance(600)
    second = world.poller(seed=2).run()  # now the other 80
    assert (second.due, second.read) == (80, 10)  # 20 x 80/200 = 8, but at least 10
    rows = _rows(world)
    chunks = [r for r in rows if r.metric == "likes" and r.estimated and r.delivery_id is None]
    assert sorted(r.population for r in chunks) == [80, 120]
    with world.sessions() as session:
        built = build(session, world.slug)
        (stage,) = growth(session, world.slug)
    assert built.platforms["x"].metrics["likes"].value == sum(r.value for r in chunks)
    assert stage.posts == 200 and stage.metrics["likes"].value == sum(r.value for r in chunks)

    # A day on, only the first 120 are due for their 24h snapshot: the other 80 still
    # count by their 1h estimate, the first 120 by their new one.
    world.advance(86400 - 3600 - 600)
    third = world.poller(seed=3).run()
    assert (third.due, third.read) == (120, 12)
    rows = _rows(world)
    day = [r for r in rows if r.metric == "likes" and r.estimated and r.label == "24h"]
    hour_of_the_80 = next(r for r in chunks if r.population == 80)
    assert [r.population for r in day] == [120]
    with world.sessions() as session:
        built = build(session, world.slug)
    assert built.platforms["x"].metrics["likes"].value == day[0].value + hour_of_the_80.value


def test_a_round_samples_its_share_of_a_release_but_never_fewer_than_ten():
    assert round_size(200, 10_000, 10_000) == 200  # the whole release at once
    assert round_size(200, 5_000, 10_000) == 100
    assert round_size(200, 100, 10_000) == MIN_ROUND_SAMPLE == 10
    assert round_size(5, 100, 10_000) == 5  # never more than the sample size


def test_scheduled_posts_keep_their_own_group_beside_a_release(world: World):
    world.release("x", 60)
    scheduled = world.post("rally")
    sent = [world.send(scheduled, world.x_account(followers=f)) for f in (800, 1500, 2500)]
    world.policy(sample_size=10)
    world.advance(3600)
    result = world.poller().run()
    assert (result.due, result.read, result.sampled_out) == (63, 13, 50)
    rows = _rows(world)
    own = {r.delivery_id for r in rows if not r.estimated}
    assert set(sent) <= own  # three posts: below the sample size, read whole
    release = _estimates(rows, "1h")[("x", "likes")]
    rally_likes = sum(r.value or 0 for r in rows if r.metric == "likes" and r.delivery_id in sent)
    with world.sessions() as session:
        built = build(session, world.slug)
        rally = build(session, world.slug, post="rally")
    assert built.platforms["x"].metrics["likes"].value == release.value + rally_likes  # type: ignore[attr-defined]
    assert rally.platforms["x"].metrics["likes"].value == rally_likes
    assert not rally.platforms["x"].metrics["likes"].estimated


def test_one_pledge_post_alone_shows_its_own_reading_never_the_release_estimate(world: World):
    ids = world.release("x", 30)
    world.policy(sample_size=5)
    world.advance(3600)
    world.poller(seed=4).run()
    rows = _rows(world)
    sampled = sorted({r.delivery_id for r in rows if not r.estimated})
    unread = sorted(set(ids) - set(sampled))
    assert len(sampled) == 5
    with world.sessions() as session:
        keys = dict(
            session.execute(
                select(EngagementSnapshot.delivery_id, EngagementSnapshot.post_id).where(
                    EngagementSnapshot.metric == MEMBER_METRIC
                )
            ).all()
        )
        key_of = {d: session.get(Post, keys[d]).key for d in (sampled[0], unread[0])}  # type: ignore[union-attr]
        read_one = build(session, world.slug, post=key_of[sampled[0]])
        unread_one = build(session, world.slug, post=key_of[unread[0]])
        out = io.StringIO()
        write_csv(session, world.slug, out)
    own_likes = next(r.value for r in rows if r.delivery_id == sampled[0] and r.metric == "likes")
    likes = read_one.platforms["x"].metrics["likes"]
    assert likes.value == own_likes and not likes.estimated
    assert unread_one.platforms["x"].metrics["likes"].value is None  # not read: no figure
    assert unread_one.platforms["x"].sent == 1
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    # One row per reading taken; every one of them was in the sample.
    assert sorted(int(r["delivery_id"]) for r in table) == sampled
    assert {r["in_sample"] for r in table} == {"yes"}
