"""Writing a round's results in bulk: snapshot rows, plan updates, deletions, read days.

Everything is buffered and written with the driver's executemany (``bulk``) in one
transaction per flush: a round over 100,000 posts writes about 800,000 rows.
Snapshot rows are only ever inserted, never updated: the time series
survives every later read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from bot.engagement import bulk, costs, plan
from bot.engagement.plan import DueItem, Offsets
from bot.engagement.sampling import Estimate
from bot.platforms.base import MetricsReading
from bot.storage.models import EngagementSnapshot

ESTIMATE_SOURCE = "estimate"  # a sampled post's total (one post sent from many accounts)
# A sampled pledge release's total on one platform: the release is many posts
# (bot.pledges.release), so its estimate stands for all of them, not for the post whose
# id the row carries (post_id cannot be NULL; it is one of the release's posts).
RELEASE_ESTIMATE_SOURCE = "release estimate"
# One row per delivery an estimate counts (sampled or not) at that snapshot: the report
# counts that delivery by the estimate there, never its own reading as well, and knows
# which estimate a delivery's latest figures come from when a release's snapshot was
# taken over several rounds (its posts go out over a window).
MEMBER_METRIC = "in_estimate"
SNAPSHOTS = cast(Table, EngagementSnapshot.__table__)


SNAPSHOT_COLUMNS = (
    "delivery_id",
    "post_id",
    "platform",
    "taken_at",
    "label",
    "metric",
    "value",
    "source",
    "estimated",
    "available",
    "low",
    "high",
    "sample_size",
    "population",
)


def estimate_source(item: DueItem) -> str:
    return RELEASE_ESTIMATE_SOURCE if item.release else ESTIMATE_SOURCE


class Writer:
    def __init__(
        self, sessions: sessionmaker[Session], now: datetime, offsets: Offsets, *, refresh: bool
    ) -> None:
        self.sessions = sessions
        self.now = now
        self.offsets = offsets
        self.refresh = refresh
        self.rows_written = 0
        self.seconds = 0.0  # spent writing
        with sessions() as session:
            self._taken = bulk.binder(session.get_bind().dialect)(now)
        self._rows: list[tuple[Any, ...]] = []
        self._advance: list[DueItem] = []
        self._deleted: list[int] = []
        self._reads: list[dict[str, object]] = []
        self._labels: dict[tuple[datetime, int], str] = {}

    @property
    def pending_rows(self) -> int:
        return len(self._rows)

    def label(self, item: DueItem) -> str:
        if self.refresh:
            return plan.REFRESH
        key = (item.sent_at, item.stage)  # a release's posts share both: compute once
        label = self._labels.get(key)
        if label is None:
            stage = max(item.stage, plan.stage_at(item.sent_at, self.now, self.offsets))
            label = self._labels[key] = plan.label_for(stage, self.offsets)
        return label

    def reading(self, item: DueItem, reading: MetricsReading) -> None:
        delivery, post, platform, taken = item.delivery_id, item.post_id, item.platform, self._taken
        label = self.label(item)
        sources = reading.sources
        self._rows.extend(
            [
                (delivery, post, platform, taken, label, metric, value)
                + (sources.get(metric, "unknown"), False, value is not None, None, None, None, None)
                for metric, value in reading.values.items()
            ]
        )
        self._advance_item(item)

    def estimate(
        self,
        item: DueItem,
        metric: str,
        estimate: Estimate | None,
        population: int,
        sample_size: int,
    ) -> None:
        """A release total from a sample (``item``: any of the release's deliveries)."""
        self._rows.append(
            (
                None,
                item.post_id,
                item.platform,
                self._taken,
                self.label(item),
                metric,
                estimate.total if estimate else None,
                estimate_source(item),
                True,
                estimate is not None,
                estimate.low if estimate else None,
                estimate.high if estimate else None,
                sample_size,
                population,
            )
        )

    def members(self, items: Iterable[DueItem], population: int, sample_size: int) -> None:
        """The deliveries an estimate of this round counts (its sample and the rest)."""
        taken = self._taken
        self._rows.extend(
            (i.delivery_id, i.post_id, i.platform, taken, self.label(i), MEMBER_METRIC, None)
            + (estimate_source(i), True, False, None, None, sample_size, population)
            for i in items
        )

    def deleted(self, item: DueItem) -> None:
        self._deleted.append(item.delivery_id)

    def billed(self, item: DueItem) -> None:
        self._reads.append(
            {
                "delivery_id": item.delivery_id,
                "day": costs.utc_day(self.now),
                "campaign_id": item.campaign_id,
            }
        )

    def skipped(self, items: Iterable[DueItem]) -> None:
        """Not read (cost cap): move on to the next offset without a snapshot."""
        for item in items:
            self._advance_item(item)

    def covered(self, items: Iterable[DueItem]) -> None:
        """Counted in a release estimate instead of being read."""
        for item in items:
            self._advance_item(item)

    def _advance_item(self, item: DueItem) -> None:
        if not self.refresh:
            self._advance.append(item)

    def flush(self) -> None:
        if not (self._rows or self._advance or self._deleted or self._reads):
            return
        started = time.perf_counter()
        with self.sessions() as session:
            bulk.insert_many(session, "engagement_snapshots", SNAPSHOT_COLUMNS, self._rows)
            plan.advance(session, self._advance, self.now, self.offsets)
            plan.mark_deleted(session, self._deleted, self.now)
            costs.record_reads(session, self._reads)
            session.commit()
        self.rows_written += len(self._rows)
        self._rows, self._advance, self._deleted, self._reads = [], [], [], []
        self.seconds += time.perf_counter() - started
