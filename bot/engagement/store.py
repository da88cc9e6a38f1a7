"""Writing a round's results in bulk: snapshot rows, plan updates, deletions, read days.

Everything is buffered and written with executemany in one transaction per flush: a
round over 100,000 posts writes about 700,000 rows, which row-by-row ORM inserts could
not do in time. Snapshot rows are only ever inserted, never updated: the time series
survives every later read.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import EngagementSnapshot
from bot.engagement import costs, plan
from bot.engagement.plan import DueItem, Offsets
from bot.engagement.sampling import Estimate
from bot.platforms.base import MetricsReading

ESTIMATE_SOURCE = "estimate"
SNAPSHOTS = cast(Table, EngagementSnapshot.__table__)


class Writer:
    def __init__(
        self, sessions: sessionmaker[Session], now: datetime, offsets: Offsets, *, refresh: bool
    ) -> None:
        self.sessions = sessions
        self.now = now
        self.offsets = offsets
        self.refresh = refresh
        self.rows_written = 0
        self._rows: list[dict[str, Any]] = []
        self._advance: list[DueItem] = []
        self._deleted: list[int] = []
        self._reads: list[dict[str, object]] = []

    @property
    def pending_rows(self) -> int:
        return len(self._rows)

    def label(self, item: DueItem) -> str:
        if self.refresh:
            return plan.REFRESH
        stage = max(item.stage, plan.stage_at(item.sent_at, self.now, self.offsets))
        return plan.label_for(stage, self.offsets)

    def _row(self, item: DueItem, **values: Any) -> dict[str, Any]:
        row = {
            "delivery_id": item.delivery_id,
            "post_id": item.post_id,
            "platform": item.platform,
            "taken_at": self.now,
            "label": self.label(item),
            "estimated": False,
            "low": None,
            "high": None,
            "sample_size": None,
            "population": None,
        }
        row.update(values)
        return row

    def reading(self, item: DueItem, reading: MetricsReading) -> None:
        for metric, value in reading.values.items():
            self._rows.append(
                self._row(
                    item,
                    metric=metric,
                    value=value,
                    source=reading.sources.get(metric, "unknown"),
                    available=value is not None,
                )
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
            self._row(
                item,
                delivery_id=None,
                metric=metric,
                value=estimate.total if estimate else None,
                source=ESTIMATE_SOURCE,
                estimated=True,
                available=estimate is not None,
                low=estimate.low if estimate else None,
                high=estimate.high if estimate else None,
                sample_size=sample_size,
                population=population,
            )
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
        with self.sessions() as session:
            if self._rows:
                session.execute(insert(SNAPSHOTS), self._rows)
            plan.advance(session, self._advance, self.now, self.offsets)
            plan.mark_deleted(session, self._deleted, self.now)
            costs.record_reads(session, self._reads)
            session.commit()
        self.rows_written += len(self._rows)
        self._rows, self._advance, self._deleted, self._reads = [], [], [], []
