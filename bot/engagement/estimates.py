"""Reading estimates back: which deliveries each stored estimate stands for.

A sampled snapshot of a post sent from many accounts, or of a pledge release (one post
per pledge, ``bot.pledges.release``), is stored as (``bot.engagement.store``):

- the sample's own readings, ordinary rows of their deliveries;
- one estimate row per metric (no delivery) for the whole group: the total, its 95%
  interval, the sample size and the population;
- one member row (``MEMBER_METRIC``) per delivery the estimate counts, sampled or not.

One round writes all of it at one ``taken_at``, so an estimate is known by (group,
platform, snapshot label, taken_at). Reports count a member by its estimate at that
snapshot and never add its own sampled reading on top. A release sent over a window is
snapshotted over several rounds, so one snapshot may have several estimates, each of
its own members.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engagement.store import MEMBER_METRIC, RELEASE_ESTIMATE_SOURCE

# (group, platform, label, taken_at); group is "release" or the post's id
ChunkKey = tuple[Hashable, str, str, datetime]


@dataclass
class Chunk:
    """One stored estimate: a group's total on one platform from one round's sample."""

    platform: str
    label: str
    population: int = 0
    values: dict[str, tuple[int | None, int | None, int | None]] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)

    def share(self, metric: str, count: int) -> tuple[int, int, int] | None:
        """``count`` members' part of the estimate (all of it when count = population):
        the total and interval scaled by count / population, for members whose later
        snapshots have moved them on to another estimate or reading."""
        value, low, high = self.values.get(metric, (None, None, None))
        if value is None or self.population <= 0 or count <= 0:
            return None
        if count >= self.population:
            return value, low if low is not None else value, high if high is not None else value
        part = count / self.population
        return (
            round(value * part),
            math.floor((low if low is not None else value) * part),
            math.ceil((high if high is not None else value) * part),
        )


def key_of(snap: Any) -> ChunkKey:
    """The estimate a snapshot row (estimate or member row) belongs to."""
    group: Hashable = "release" if snap.source == RELEASE_ESTIMATE_SOURCE else snap.post_id
    return (group, snap.platform, snap.label, snap.taken_at)


def take(chunks: dict[ChunkKey, Chunk], snap: Any) -> tuple[ChunkKey, Chunk]:
    """File an estimated row (an estimate or a member row) under its chunk."""
    key = key_of(snap)
    chunk = chunks.get(key)
    if chunk is None:
        chunk = chunks[key] = Chunk(snap.platform, snap.label, snap.population or 0)
    if snap.delivery_id is None:
        chunk.values[snap.metric] = (snap.value, snap.low, snap.high)
    elif snap.metric == MEMBER_METRIC:
        chunk.members.add(snap.delivery_id)
    return key, chunk
