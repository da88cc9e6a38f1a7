"""Prometheus metrics, in one place: what the engine counts and what the database knows.

The delivery engine (bot/delivery/deliverer.py, dispatcher.py) and the engagement poller
(bot/engagement/poll.py) each hold a ``Metrics`` and make one call where something
happens. Those calls only touch prometheus_client's in-memory counters and histograms (a
lock and an add): a release sends ~900 posts a second and no call here reads the
database. What the database already knows is read when Prometheus scrapes, by
``DatabaseCollector``: one grouped query for deliveries by state and platform, one for
the releases' progress, one for the scheduler's last tick, cached for ``cache_seconds``
so that several scrapers (or a browser refreshing /metrics) cost one read.

Each ``Metrics`` owns its ``CollectorRegistry`` (never prometheus_client's global one), so
a test makes its own and two runtimes in one process never count into each other.
``Metrics`` also remembers, per platform, whether the last attempt reached it: what
``/readyz`` reports (bot/monitoring/health.py) without any network call of its own.

A scaled-out scheduler or worker (bot/delivery/roles.py) adds its own figures —
active or standing by, jobs deferred, lease held — through ``watch_role``: read from the
role's objects at scrape time by a ``RoleCollector``, on the same registry, so one
/metrics serves them with the rest.

Names follow Prometheus's conventions (prometheus.io/docs/practices/naming): a ``clarion_``
prefix, base units (seconds), ``_total`` on counters only. Rows in a state are a gauge
(``clarion_deliveries``): a pending delivery that is sent leaves the pending count.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery import heartbeat
from bot.delivery.outcomes import Outcome
from bot.platforms.base import OutcomeUnknown, PlatformError, TransientError
from bot.storage.models import (
    Campaign,
    Delivery,
    DeliveryState,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
)

if TYPE_CHECKING:
    from bot.engagement.poll import RoundResult

__all__ = [
    "CONTENT_TYPE",
    "DatabaseCollector",
    "Figure",
    "Metrics",
    "Reach",
    "RoleCollector",
    "Work",
]

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds after a post's due time. Scheduled posts start within tens of milliseconds;
# a 10,000-post release is acknowledged within 15 s (bench/release.py); past
# MISSED_GRACE_MINUTES (15 min by default) nothing is sent at all.
LATENESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 300, 900)
# The platforms' own kinds of error (bot/platforms/base.py), and "unknown" for any other.
ERROR_KINDS = frozenset({"transient", "auth", "permanent", "unknown"})
RELEASES = (PledgeCampaignState.RELEASING, PledgeCampaignState.RELEASED)


class Work(StrEnum):
    """Which of Clarion's jobs met a rate limit."""

    DELIVERY = "delivery"
    ENGAGEMENT = "engagement"


class Figure(NamedTuple):
    """One figure a scaled-out role reports of itself at scrape time: ``name`` without the
    ``clarion_`` prefix (and, for a counter, without ``_total``, which is added)."""

    name: str
    help: str
    value: float
    counter: bool = False


class Reach(NamedTuple):
    """Whether the last attempt on a platform reached it: an answer of any kind (a post
    accepted, refused, a token rejected, a rate limit) is reached; no answer, a timeout
    or a server error (5xx) is not."""

    reachable: bool
    at: datetime
    detail: str


def reached(exc: PlatformError) -> bool:
    """Whether a platform error came from a platform that answered (see ``Reach``)."""
    if isinstance(exc, OutcomeUnknown):
        return False
    if isinstance(exc, TransientError):
        return exc.rate_limited
    return True


class Metrics:
    """The counters the engine and the poller add to, and the registry /metrics serves.

    ``sessions``: the database read at scrape time (none: only the in-process counters).
    """

    def __init__(
        self,
        sessions: sessionmaker[Session] | None = None,
        *,
        registry: CollectorRegistry | None = None,
        cache_seconds: float = 5.0,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.start_lateness = Histogram(
            "clarion_delivery_start_lateness_seconds",
            "From a delivery's due time to the start of its first publish request in an attempt",
            ["platform"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.acknowledged = Histogram(
            "clarion_delivery_acknowledged_seconds",
            "From a delivery's due time to the platform's acknowledgement of its last part",
            ["platform"],
            buckets=LATENESS_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "clarion_delivery_attempts",
            "Attempts at a delivery, by what they came to (sent, retry, deferred, unknown, "
            "failed, missed, cancelled, lost, unclaimed)",
            ["platform", "outcome"],
            registry=r,
        )
        self.retries = Counter(
            "clarion_delivery_retries",
            "Attempts that failed transiently and were queued again after a backoff",
            ["platform"],
            registry=r,
        )
        self.errors = Counter(
            "clarion_delivery_errors",
            "Platform errors met while delivering, by class: transient, auth, permanent, "
            "unknown (no answer: the post may be out)",
            ["platform", "kind"],
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "clarion_rate_limit_waits",
            "Rate-limit answers from a platform (each closes that account's gate until the "
            "platform's reset time)",
            ["platform", "work"],
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "clarion_rate_limit_wait_seconds",
            "Seconds the platforms asked Clarion to wait, summed",
            ["platform", "work"],
            registry=r,
        )
        self.claims = Counter(
            "clarion_delivery_claims",
            "Deliveries this process claimed to send (each claim is committed before any "
            "network call; one given back unsent is counted too)",
            registry=r,
        )
        self.in_flight = Gauge(
            "clarion_deliveries_in_flight",
            "Deliveries claimed by the dispatcher and not yet recorded",
            registry=r,
        )
        self.engagement_reads = Counter(
            "clarion_engagement_reads",
            "Posts whose engagement was read",
            ["platform"],
            registry=r,
        )
        self.engagement_calls = Counter(
            "clarion_engagement_calls",
            "HTTP calls to the platforms made to read engagement",
            registry=r,
        )
        self.engagement_deferred = Counter(
            "clarion_engagement_deferred",
            "Due snapshots left for a later round (rate limit, error)",
            registry=r,
        )
        self.engagement_x_billable_reads = Counter(
            "clarion_engagement_x_billable_reads",
            "X reads that are billed (one per post per UTC day)",
            registry=r,
        )
        self.engagement_x_cost = Counter(
            "clarion_engagement_x_read_cost_usd",
            "What the billable X reads cost at X_READ_COST_USD",
            registry=r,
        )
        self.reachable = Gauge(
            "clarion_platform_reachable",
            "1 if the last attempt on the platform got an answer, 0 if not",
            ["platform"],
            registry=r,
        )
        self._reach: dict[str, Reach] = {}
        # The labelled children the hot path uses, looked up once: ``labels()`` takes a
        # lock and builds a tuple, several times the cost of the add itself.
        self._started: dict[str, Histogram] = {}
        self._acked: dict[str, Histogram] = {}
        self._outcomes: dict[tuple[str, str], Counter] = {}
        if sessions is not None:
            r.register(DatabaseCollector(sessions, cache_seconds=cache_seconds))

    # --- the delivery engine ---------------------------------------------------------

    def request_started(self, platform: str, due_at: datetime, at: datetime) -> None:
        """The first publish request of an attempt starts ``at``."""
        child = self._started.get(platform)
        if child is None:
            child = self._started[platform] = self.start_lateness.labels(platform)
        child.observe(max(0.0, (at - due_at).total_seconds()))

    def published(self, platform: str, due_at: datetime, at: datetime) -> None:
        """The platform acknowledged a delivery's last part ``at``."""
        child = self._acked.get(platform)
        if child is None:
            child = self._acked[platform] = self.acknowledged.labels(platform)
        child.observe(max(0.0, (at - due_at).total_seconds()))
        self._reach[platform] = Reach(True, at, "")

    def claimed(self, count: int) -> None:
        """This process claimed ``count`` deliveries (the ledger's conditional UPDATEs)."""
        if count:
            self.claims.inc(count)

    def attempt(self, platform: str, outcome: Outcome) -> None:
        """What one attempt came to (an ``Outcome``). A claim given back unsent as the
        daemon stops (``unclaimed``) was no attempt."""
        if outcome is Outcome.UNCLAIMED:
            return
        child = self._outcomes.get((platform, outcome))
        if child is None:
            child = self._outcomes[(platform, outcome)] = self.attempts.labels(platform, outcome)
        child.inc()
        if outcome is Outcome.RETRY:
            self.retries.labels(platform).inc()

    def platform_error(self, platform: str, exc: PlatformError, at: datetime) -> None:
        """A platform call for a delivery raised ``exc``."""
        kind = exc.kind if exc.kind in ERROR_KINDS else "unknown"
        self.errors.labels(platform, kind).inc()
        ok = reached(exc)
        detail = "" if ok else f"{type(exc).__name__}: {exc.message}"[:200]
        self._reach[platform] = Reach(ok, at, detail)

    def rate_limited(self, platform: str, seconds: float, work: Work) -> None:
        """A platform said to wait ``seconds`` before calling it again."""
        self.rate_limit_waits.labels(platform, work).inc()
        self.rate_limit_wait_seconds.labels(platform, work).inc(max(0.0, seconds))

    def watch_in_flight(self, count: Callable[[], int]) -> None:
        """Read the in-flight count from ``count`` at scrape time (the dispatcher's)."""
        self.in_flight.set_function(count)

    def watch_role(self, role: str, name: str, figures: Callable[[], Iterable[Figure]]) -> None:
        """Serve a scaled-out role's own figures, read from ``figures`` at scrape time."""
        self.registry.register(RoleCollector(role, name, figures))

    def reach(self) -> Mapping[str, Reach]:
        """Per platform, whether its last attempt in this process reached it."""
        return dict(self._reach)

    # --- engagement --------------------------------------------------------------------

    def engagement_round(self, result: RoundResult, x_read_cost_usd: float) -> None:
        """One poller round is over (``costs``: X_READ_COST_USD per billable read)."""
        for platform, count in result.read_by_platform.items():
            self.engagement_reads.labels(platform).inc(count)
        self.engagement_calls.inc(result.calls)
        self.engagement_deferred.inc(result.deferred)
        self.engagement_x_billable_reads.inc(result.billable_reads)
        self.engagement_x_cost.inc(result.billable_reads * x_read_cost_usd)

    # --- serving -----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text Prometheus scrapes (reads the database: call it from a thread)."""
        for platform, reach in self.reach().items():
            self.reachable.labels(platform).set(1 if reach.reachable else 0)
        return generate_latest(self.registry)


class DatabaseCollector(Collector):
    """What the database knows, read at scrape time and kept ``cache_seconds``."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.cache_seconds = cache_seconds
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def describe(self) -> Iterable[Metric]:
        # Without describe(), registering would call collect() and read the database.
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = self.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._read())
            families = self._cached[1]
        yield from families

    def _read(self) -> list[Metric]:
        up = GaugeMetricFamily(
            "clarion_database_up", "1 if the database answered the last scrape's queries"
        )
        try:
            families = self._query()
        except SQLAlchemyError as exc:
            # The exception's text may name the database's host and user: the log only
            # gets its class, as /readyz does.
            logger.warning("metrics: could not read the database (%s)", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [up, *families]

    def _query(self) -> list[Metric]:
        deliveries = GaugeMetricFamily(
            "clarion_deliveries",
            "Deliveries by state and platform, read from the database",
            labels=["state", "platform"],
        )
        sent = GaugeMetricFamily(
            "clarion_release_sent",
            "Posts of a pledge campaign's release acknowledged by the platforms",
            labels=["campaign"],
        )
        total = GaugeMetricFamily(
            "clarion_release_total",
            "Posts in a pledge campaign's release (released or releasing)",
            labels=["campaign"],
        )
        tick = GaugeMetricFamily(
            "clarion_scheduler_last_tick_timestamp_seconds",
            "When a daemon last polled this database (Unix time); absent if none ever did",
        )
        with self.sessions() as session:
            for platform, state, count in session.execute(
                select(Delivery.platform, Delivery.state, func.count()).group_by(
                    Delivery.platform, Delivery.state
                )
            ):
                deliveries.add_metric([str(state), str(platform)], int(count))
            releases: dict[str, list[int]] = {}
            for slug, state, count in session.execute(
                select(Campaign.slug, Delivery.state, func.count())
                .select_from(Pledge)
                .join(Delivery, Pledge.delivery_id == Delivery.id)
                .join(PledgeCampaign, Pledge.pledge_campaign_id == PledgeCampaign.id)
                .join(Campaign, PledgeCampaign.campaign_id == Campaign.id)
                .where(PledgeCampaign.state.in_(RELEASES))
                .group_by(Campaign.slug, Delivery.state)
            ):
                counts = releases.setdefault(str(slug), [0, 0])
                counts[1] += int(count)
                if state == DeliveryState.SENT:
                    counts[0] += int(count)
            last = heartbeat.latest(session)
        for slug, (done, of) in sorted(releases.items()):
            sent.add_metric([slug], done)
            total.add_metric([slug], of)
        families: list[Metric] = [deliveries, sent, total]
        if last is not None:
            tick.add_metric([], last.timestamp())
            families.append(tick)
        return families


class RoleCollector(Collector):
    """A scheduler's or a worker's own figures (``Figure``), read at scrape time, with
    ``clarion_role_info{role, name}`` saying which process this is."""

    def __init__(self, role: str, name: str, figures: Callable[[], Iterable[Figure]]) -> None:
        self.role = role
        self.name = name
        self.figures = figures

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "clarion_role_info",
            "Which scaled-out role this process runs, and its name (host:pid)",
            labels=["role", "name"],
        )
        info.add_metric([self.role, self.name], 1)
        yield info
        for figure in self.figures():
            family = CounterMetricFamily if figure.counter else GaugeMetricFamily
            yield family(f"clarion_{figure.name}", figure.help, value=figure.value)
