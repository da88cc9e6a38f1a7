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
its own members. Estimates stored before member rows existed (a post's only) count for
every sent delivery of their post on their platform, as reports counted them then.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
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


def adopt_legacy(
    chunks: Mapping[ChunkKey, Chunk], sent: Mapping[tuple[int, str], Iterable[int]]
) -> list[ChunkKey]:
    """Give estimates stored before member rows existed (a post's, source ``estimate``)
    their members: every sent delivery of their post on their platform (``sent``), as
    reports counted them then. Answers those estimates, oldest first."""
    adopted = []
    for key, chunk in chunks.items():
        group, platform = key[0], key[1]
        if not chunk.members and group != "release" and isinstance(group, int):
            chunk.members.update(sent.get((group, platform), ()))
            adopted.append(key)
    return adopted


def has_legacy(chunks: Mapping[ChunkKey, Chunk]) -> bool:
    return any(not chunk.members and key[0] != "release" for key, chunk in chunks.items())


# delivery -> (taken_at, its own values then, the estimate counting it then or None)
Latest = dict[int, tuple[datetime, dict[str, int | None], ChunkKey | None]]


@dataclass
class Found:
    latest: Latest
    chunks: dict[ChunkKey, Chunk]
    values: int  # snapshot values read (not the member rows)
    last_updated: datetime | None


def latest(rows: Iterable[Any], sent: Mapping[tuple[int, str], Iterable[int]]) -> Found:
    """Each delivery's latest snapshot from rows oldest first: its own values, and the
    estimate that counts it at that snapshot (then it is counted by the estimate alone)."""
    found = Found({}, {}, 0, None)
    by_delivery, chunks = found.latest, found.chunks
    for snap in rows:
        found.values += snap.metric != MEMBER_METRIC
        found.last_updated = snap.taken_at
        if snap.estimated:
            key, _ = take(chunks, snap)
        if snap.delivery_id is None:
            continue
        entry = by_delivery.get(snap.delivery_id)
        if entry is None or entry[0] != snap.taken_at:
            entry = by_delivery[snap.delivery_id] = (snap.taken_at, {}, None)
        if snap.estimated:
            by_delivery[snap.delivery_id] = (entry[0], entry[1], key)
        else:
            entry[1][snap.metric] = snap.value
    for legacy in adopt_legacy(chunks, sent):
        taken = legacy[3]
        for delivery_id in chunks[legacy].members:
            entry = by_delivery.get(delivery_id)
            if entry is None or entry[0] <= taken:
                own = entry[1] if entry is not None and entry[0] == taken else {}
                by_delivery[delivery_id] = (taken, own, legacy)
    return found
