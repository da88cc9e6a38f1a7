"""Sampling a large release: estimates carry an interval that covers the true total."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.engagement.report import build
from bot.engagement.sampling import estimate_total, split_sample
from bot.storage.models import EngagementSnapshot
from tests.support.engagement import World


def test_a_full_sample_is_exact_and_a_partial_one_brackets_its_estimate():
    assert estimate_total([3, 4, 5], 3).total == 12
    assert (estimate_total([3, 4, 5], 3).low, estimate_total([3, 4, 5], 3).high) == (12, 12)
    partial = estimate_total([10, 20, 30, 40], 40)
    assert partial.total == 1000 and partial.low < 1000 < partial.high
    assert partial.low >= 100  # never below what the sample itself counted


def test_a_sample_of_one_is_refused_because_it_has_no_spread():
    with pytest.raises(ValueError):
        estimate_total([5], 10)


def test_only_groups_larger_than_the_sample_size_are_split():
    groups = {"small": [1, 2], "big": list(range(10))}
    chosen, sampled = split_sample(groups, 4, random.Random(1))
    assert set(sampled) == {"big"}
    sample, rest = sampled["big"]
    assert len(sample) == 4 and sorted(sample + rest) == list(range(10))
    assert len(chosen) == 6


def test_interval_coverage_holds_for_synthetic_populations_over_many_seeds():
    rng = random.Random(7)
    population = [int(rng.lognormvariate(3, 0.6)) for _ in range(500)]
    truth = sum(population)
    covered = 0
    for seed in range(200):
        sample = random.Random(seed).sample(population, 40)
        estimate = estimate_total(sample, len(population))
        covered += estimate.low <= truth <= estimate.high
    assert covered >= 180  # a 95% interval: at least 90% of 200 draws


def test_release_estimates_from_the_sandbox_cover_the_true_total(world: World):
    """A 40-account release, sampled 12 at a time with 25 different seeds."""
    rng = random.Random(3)
    post = world.post("release")
    for _ in range(40):
        world.send(post, world.x_account(followers=rng.randint(500, 30000)))
    world.advance(3600)
    world.policy(sample_size=12)
    for seed in range(25):
        result = world.poller(seed=seed).run(refresh=True)
        assert result.read == 12 and result.sampled_out == 28
    world.policy(sample_size=None)
    world.clock.now += timedelta(seconds=1)  # tells the full read's rows apart
    assert world.poller().run(refresh=True).read == 40
    with world.sessions() as session:
        rows = session.scalars(select(EngagementSnapshot)).all()
    for metric in ("likes", "views"):
        # The sandbox's clock runs on between rounds: the truth is the full read taken last.
        truth = sum(
            r.value or 0
            for r in rows
            if r.metric == metric and not r.estimated and r.taken_at == rows[-1].taken_at
        )
        estimates = [r for r in rows if r.metric == metric and r.estimated]
        assert len(estimates) == 25
        assert all(r.sample_size == 12 and r.population == 40 for r in estimates)
        covered = sum(1 for r in estimates if r.low <= truth <= r.high)
        # A 95% interval covers the truth in ~23 of 25 draws (observed 22-25 over repeated
        # runs; post ids, so the jitter, change every run). An interval sized by the
        # mean's spread instead of the total's would almost never cover it.
        assert covered >= 19, (metric, truth, [(r.low, r.value, r.high) for r in estimates])


def test_the_report_counts_a_sampled_release_by_its_estimate_marked_as_such(world: World):
    post = world.post("release")
    for followers in range(1000, 11000, 1000):
        world.send(post, world.x_account(followers=followers))
    world.policy(sample_size=4)
    world.advance(3600)
    result = world.poller().run()
    assert (result.read, result.sampled_out) == (4, 6)
    assert world.poller().run().due == 0  # the unsampled posts moved on with the sample
    with world.sessions() as session:
        built = build(session, world.slug)
    likes = built.platforms["x"].metrics["likes"]
    assert likes.estimated and likes.low <= likes.value <= likes.high
    assert built.total.metrics["likes"].estimated and built.total.sent == 10
