"""Sampling large releases: read N of a release's posts and estimate the release's total.

A release (one post sent from many accounts) can be thousands of posts, each read billed
by X. With a per-campaign sample size N, a snapshot reads a simple random sample of N of
the release's due posts on each platform and estimates the total as

    total ≈ population × sample mean,

with a 95% confidence interval from Student's t and the finite population correction
(sampling without replacement, Cochran, *Sampling Techniques*, 3rd ed., §2.4-2.5):

    SE = population × s / √n × √((population − n) / (population − 1))

The lower bound is never below what the sample itself counted.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom; 1.96 beyond.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t95(df: int) -> float:
    if df < 1:
        return math.inf
    return _T95[df - 1] if df <= len(_T95) else 1.96


@dataclass(frozen=True)
class Estimate:
    total: int
    low: int
    high: int
    sample_size: int
    population: int


def estimate_total(values: Sequence[int], population: int) -> Estimate:
    """Estimate a population total from a simple random sample of its values."""
    n = len(values)
    if n == 0 or population < n:
        raise ValueError("need a non-empty sample no larger than the population")
    observed = sum(values)
    if n == population:
        return Estimate(observed, observed, observed, n, population)
    mean = observed / n
    total = population * mean
    if n == 1:
        raise ValueError("a sample of one has no spread: sample at least 2 posts")
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    fpc = (population - n) / (population - 1)
    half = t95(n - 1) * population * math.sqrt(variance / n) * math.sqrt(fpc)
    low = max(observed, math.floor(total - half))
    return Estimate(round(total), low, math.ceil(total + half), n, population)


# The smallest sample a round takes of a part of a release: below ~10, Student's t (4.3
# at n = 3, 2.26 at n = 10) makes the part's interval widen the whole release's a lot.
MIN_ROUND_SAMPLE = 10


def round_size(size: int, due: int, release: int) -> int:
    """How many of ``due`` posts of a ``release``-post release to sample this round, for a
    sample size of ``size`` per snapshot: the round's share of it. A release sent over a
    window comes due over several rounds; sampling ``size`` in each would read several
    times ``size`` per snapshot."""
    if due >= release:
        return size
    return min(size, max(MIN_ROUND_SAMPLE, math.ceil(size * due / release)))


def split_sample(
    groups: dict[Hashable, list[T]], size: int | None, rng: random.Random
) -> tuple[list[T], dict[Hashable, tuple[list[T], list[T]]]]:
    """(items to read, {group: (sample, rest)} for the groups that were sampled).

    Groups no larger than ``size`` (or every group when ``size`` is None) are read whole.
    """
    chosen: list[T] = []
    sampled: dict[Hashable, tuple[list[T], list[T]]] = {}
    for key, items in groups.items():
        if size is None or size <= 0 or len(items) <= size:
            chosen.extend(items)
            continue
        picked = set(rng.sample(range(len(items)), size))
        sample = [item for i, item in enumerate(items) if i in picked]
        rest = [item for i, item in enumerate(items) if i not in picked]
        chosen.extend(sample)
        sampled[key] = (sample, rest)
    return chosen, sampled
