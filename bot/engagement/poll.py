"""One engagement round: find the snapshots that are due, read them in batches, store rows.

- X: up to 100 posts a call. Posts under 30 days old whose author's token we hold are
  read with that token (public, non-public and organic metrics in one call); the rest
  with the app's bearer token (public metrics only; link clicks stored as unavailable).
- Facebook: up to 50 posts of one Page a call, with the Page's token: reactions, comments,
  shares and insights (``post_media_view``) in that one call. A deleted post or another
  Page's post in a batch costs a few more calls (``bot.platforms.facebook.metrics``).
- Bluesky: up to 25 posts a call from the public AppView (``app.bsky.feed.getPosts``), no
  token needed: likes, reposts, replies and quotes; Bluesky shows no views.
- Rate limits go through ``bot.delivery.deliverer.RateGates``: user-token and Page reads are keyed
  (platform, account id), app-token reads (platform, 0). A 429 closes that gate until the
  platform's reset time; every later batch behind a closed gate is left for the next
  round at once. Nothing sleeps.
- Large releases are sampled (``sampling``); X reads beyond a campaign's cap are skipped
  (``costs``).
- Rows are written in bulk (executemany) as batches come back, so memory stays flat.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.policy import RateGates
from bot.engagement import costs, plan, sampling, store
from bot.engagement.plan import DueItem, Offsets
from bot.monitoring.metrics import Metrics, Work
from bot.platforms.base import (
    AuthError,
    Credentials,
    MetricsReading,
    Platform,
    PlatformError,
    TransientError,
)
from bot.storage.models import EngagementPolicy, utcnow
from bot.storage.vault import Vault, VaultError

if TYPE_CHECKING:
    from bot.runtime.wiring import Runtime

logger = logging.getLogger(__name__)

X_BATCH = 100  # GET /2/tweets?ids=: up to 100 ids
FACEBOOK_BATCH = 50  # GET /?ids=: up to 50 ids
BLUESKY_BATCH = 25  # app.bsky.feed.getPosts: up to 25 URIs
MASTODON_BATCH = 20  # GET /api/v1/statuses?id[]=: 20 ids (bot.platforms.mastodon.metrics)
BATCH_SIZES = {
    "x": X_BATCH,
    "facebook": FACEBOOK_BATCH,
    "bluesky": BLUESKY_BATCH,
    "mastodon": MASTODON_BATCH,
}
# X gives private metrics for 30 days; a margin keeps a read that is slow to arrive
# from falling just past the window.
PRIVATE_WINDOW = timedelta(days=30) - timedelta(minutes=10)


@dataclass
class RoundResult:
    due: int = 0
    read: int = 0  # posts with a reading stored
    read_by_platform: dict[str, int] = field(default_factory=dict)
    rows: int = 0  # snapshot rows written (estimates included)
    deleted: int = 0
    batches: int = 0
    calls: int = 0  # HTTP calls to the platforms (a batch may take more than one)
    deferred: int = 0  # left due for the next round (rate limit, error)
    capped: int = 0  # skipped: the campaign's X read cap is spent
    no_token: int = 0  # skipped: a Facebook post whose Page token was deleted
    sampled_out: int = 0  # covered by a release estimate instead of their own read
    estimates: int = 0
    billable_reads: int = 0
    seconds: float = 0.0  # the whole round
    write_seconds: float = 0.0  # of which writing rows
    errors: list[str] = field(default_factory=list)

    @property
    def did_something(self) -> bool:
        """Something was read, found deleted or written this round."""
        return bool(self.read or self.deleted or self.rows)

    def summary(self) -> str:
        return (
            f"{self.due} due, {self.read} read, {self.deleted} deleted, "
            f"{self.sampled_out} estimated from samples, {self.capped} over the cost cap, "
            f"{self.no_token} with no token left, "
            f"{self.deferred} left for later; {self.rows} rows, {self.batches} batches "
            f"in {self.calls} calls, "
            f"{self.billable_reads} billable X reads"
        )


@dataclass
class _Task:
    platform: str
    gate_key: int  # account id, or 0 for the app's own token
    creds: Credentials | None
    items: list[DueItem]


@dataclass
class _Outcome:
    task: _Task
    readings: list[MetricsReading] | None  # None: not read this round
    batches: int
    error: str | None = None


class Poller:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        platforms: Mapping[str, Platform],
        vault: Vault,
        *,
        offsets: Offsets,
        x_read_cost: float = 0.005,
        concurrency: int = 8,
        gates: RateGates | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        flush_rows: int = 200_000,
        metrics: Metrics | None = None,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.offsets = list(offsets)
        self.x_read_cost = x_read_cost
        self.concurrency = concurrency
        self.gates = gates or RateGates()
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - sampling, not security
        self.flush_rows = flush_rows
        self.metrics = metrics if metrics is not None else Metrics()
        self._go = threading.Event()
        self._go.set()
        self._x: Any = None
        self._facebook: Any = None
        self._bluesky: Any = None
        if "x" in platforms:
            from bot.platforms.x import XMetrics

            self._x = XMetrics(platforms["x"])  # type: ignore[arg-type]
        self._mastodon: Any = None
        if "mastodon" in platforms:
            from bot.platforms.mastodon.metrics import MastodonMetrics

            self._mastodon = MastodonMetrics(platforms["mastodon"])  # type: ignore[arg-type]
        if "facebook" in platforms:
            from bot.platforms.facebook import FacebookMetrics

            self._facebook = FacebookMetrics(platforms["facebook"])  # type: ignore[arg-type]
        if "bluesky" in platforms:
            from bot.platforms.bluesky import BlueskyMetrics

            self._bluesky = BlueskyMetrics(platforms["bluesky"])  # type: ignore[arg-type]

    # -- the round ---------------------------------------------------------------------

    def run(self, campaign: str | None = None, *, refresh: bool = False) -> RoundResult:
        """Take every due snapshot (``refresh``: one of every live post now)."""
        now = self.clock()
        started = time.perf_counter()
        result = RoundResult()
        with self.sessions() as session:
            items, accounts = plan.due_items(
                session, now, self.offsets, campaign=campaign, refresh=refresh
            )
            session.commit()  # first snapshot times of posts sent since the last round
            policies = {p.campaign_id: p for p in session.scalars(select(EngagementPolicy))}
            sampling_ids = {cid for cid, p in policies.items() if p.sample_size}
            releases = plan.release_sizes(
                session, {i.campaign_id for i in items if i.release} & sampling_ids
            )
            day = costs.utc_day(now)
            x_campaigns = {i.campaign_id for i in items if i.platform == "x"}
            already = costs.read_today(session, day, x_campaigns)
            spent = {
                cid: costs.spent_usd(session, cid, self.x_read_cost)
                for cid in x_campaigns
                if cid in policies and policies[cid].cap_usd is not None
            }
        result.due = len(items)
        if not items:
            return result
        writer = store.Writer(self.sessions, now, self.offsets, refresh=refresh)
        chosen, sampled = self._sample(items, policies, releases, writer.label)
        result.sampled_out = sum(len(rest) for _, rest in sampled.values())
        to_read, capped = self._cap(chosen, policies, spent, already)
        result.capped = len(capped)
        sample_ids = {i.delivery_id for sample, _ in sampled.values() for i in sample}
        sample_values: dict[int, MetricsReading] = {}
        to_read, tokenless = plan.without_token(to_read, accounts)
        result.no_token = len(tokenless)
        tasks = self._tasks(to_read, accounts, now)
        facebook_calls = self._facebook.calls if self._facebook is not None else 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._run_task, task) for task in tasks]
            for future in as_completed(futures):
                outcome = future.result()
                result.batches += outcome.batches
                if outcome.task.platform in ("x", "bluesky"):
                    result.calls += outcome.batches  # one call each
                if outcome.error:
                    result.errors.append(outcome.error)
                if outcome.readings is None:
                    result.deferred += len(outcome.task.items)
                    continue
                by_id = {r.platform_id: r for r in outcome.readings}
                for item in outcome.task.items:
                    reading = by_id.get(item.platform_post_id)
                    if reading is None:
                        result.deferred += 1
                        continue
                    if item.delivery_id in sample_ids:
                        sample_values[item.delivery_id] = reading
                    if reading.deleted:
                        result.deleted += 1
                        writer.deleted(item)
                        continue
                    result.read += 1
                    result.read_by_platform[item.platform] = (
                        result.read_by_platform.get(item.platform, 0) + 1
                    )
                    writer.reading(item, reading)
                    if item.platform == "x" and item.delivery_id not in already:
                        already.add(item.delivery_id)
                        writer.billed(item)
                        result.billable_reads += 1
                if writer.pending_rows >= self.flush_rows:
                    # Hold new batches while writing: the driver gives up the GIL on every
                    # row it inserts, and busy reader threads made each row wait for it
                    # (a round took 3x longer with writes and reads overlapping).
                    self._go.clear()
                    try:
                        writer.flush()
                    finally:
                        self._go.set()
        if self._facebook is not None:
            result.calls += self._facebook.calls - facebook_calls
        writer.skipped(capped)
        writer.skipped(tokenless)
        result.estimates = self._estimate(sampled, sample_values, writer)
        writer.flush()
        result.rows = writer.rows_written
        result.write_seconds = writer.seconds
        result.seconds = time.perf_counter() - started
        self.metrics.engagement_round(result, self.x_read_cost)
        # Every few minutes a round finds nothing due: that line belongs at DEBUG, or it
        # buries the ones that matter.
        level = logging.INFO if result.did_something else logging.DEBUG
        logger.log(level, "engagement round: %s", result.summary())
        return result

    # -- planning the reads ------------------------------------------------------------

    def _sample(
        self,
        items: list[DueItem],
        policies: Mapping[int, EngagementPolicy],
        releases: Mapping[tuple[int, str], int],
        label: Callable[[DueItem], str],
    ) -> tuple[list[DueItem], dict[Hashable, tuple[list[DueItem], list[DueItem]]]]:
        """Split each large group into a sample to read and the rest to estimate.

        A group is one post's deliveries on one platform at one snapshot; a pledge
        release, one post per pledge, is one group per platform and snapshot, of which a
        round due for part of it samples that part's share."""
        groups: dict[Hashable, list[DueItem]] = defaultdict(list)
        for item in items:
            post: Hashable = "release" if item.release else item.post_id
            groups[(item.campaign_id, post, item.platform, label(item))].append(item)
        chosen: list[DueItem] = []
        sampled: dict[Hashable, tuple[list[DueItem], list[DueItem]]] = {}
        for key, group in groups.items():
            policy = policies.get(group[0].campaign_id)
            size = policy.sample_size if policy is not None else None
            first = group[0]
            if size and first.release:
                release = releases.get((first.campaign_id, first.platform), len(group))
                size = sampling.round_size(size, len(group), release)
            picked, split = sampling.split_sample({key: group}, size, self.rng)
            chosen.extend(picked)
            sampled.update(split)
        return chosen, sampled

    def _cap(
        self,
        items: list[DueItem],
        policies: Mapping[int, EngagementPolicy],
        spent: Mapping[int, float],
        already: set[int],
    ) -> tuple[list[DueItem], list[DueItem]]:
        left = {
            cid: costs.allowance(policies[cid].cap_usd, used, self.x_read_cost)
            for cid, used in spent.items()
        }
        keep: list[DueItem] = []
        capped: list[DueItem] = []
        for item in items:
            budget = left.get(item.campaign_id)
            if item.platform != "x" or budget is None or item.delivery_id in already:
                keep.append(item)
            elif budget > 0:
                left[item.campaign_id] = budget - 1
                keep.append(item)
            else:
                capped.append(item)
        if capped:
            logger.warning("%s X posts not read: their campaign's read cap is spent", len(capped))
        return keep, capped

    def _tasks(
        self, items: list[DueItem], accounts: Mapping[int, plan.AccountKey], now: datetime
    ) -> list[_Task]:
        creds: dict[int, Credentials | None] = {}

        def open_creds(item: DueItem) -> Credentials | None:
            if item.account_id not in creds:
                account = accounts[item.account_id]
                try:
                    creds[item.account_id] = (
                        self.vault.open(account.sealed_credentials) if account.active else None
                    )
                except VaultError as exc:
                    logger.warning("account %s: cannot open its token (%s)", item.account_id, exc)
                    creds[item.account_id] = None
            return creds[item.account_id]

        by_key: dict[tuple[str, int], list[DueItem]] = defaultdict(list)
        for item in items:
            if item.platform == "x" and self._x is not None:
                private = now - item.sent_at < PRIVATE_WINDOW and open_creds(item) is not None
                by_key[("x", item.account_id if private else 0)].append(item)
            elif item.platform == "facebook" and self._facebook is not None:
                by_key[("facebook", item.account_id)].append(item)
            elif item.platform == "bluesky" and self._bluesky is not None:
                by_key[("bluesky", 0)].append(item)  # the public AppView: no token
            elif item.platform == "mastodon" and self._mastodon is not None:
                # Each status is read on its own instance with its account's token.
                by_key[("mastodon", item.account_id)].append(item)
        tasks = []
        for (platform, key), group in by_key.items():
            size = BATCH_SIZES[platform]
            account_creds = open_creds(group[0]) if key else None
            if platform == "mastodon" and account_creds is None:
                # Public statuses' counts need no token: a supporter's token deleted after
                # the release still leaves them readable on the server named in the key.
                account_creds = public_mastodon(accounts[group[0].account_id].platform_user_id)
            for start in range(0, len(group), size):
                tasks.append(_Task(platform, key, account_creds, group[start : start + size]))
        return tasks

    # -- reading -----------------------------------------------------------------------

    def _run_task(self, task: _Task) -> _Outcome:
        """One batch: never raises, never waits for a rate limit."""
        self._go.wait()
        if self.gates.open_at(task.platform, task.gate_key, self.clock()) is not None:
            return _Outcome(task, None, 0)
        ids = [item.platform_post_id for item in task.items]
        batches = 1
        try:
            if task.platform == "x":
                if task.creds is not None:
                    try:
                        return _Outcome(task, self._x.read_private(task.creds, ids), 1)
                    except AuthError as exc:
                        # The token was revoked: public metrics still come on the app's.
                        logger.info("X account %s: %s; reading public metrics", task.gate_key, exc)
                        batches = 2
                return _Outcome(task, self._x.read_public(ids), batches)
            if task.platform == "bluesky":
                return _Outcome(task, self._bluesky.read(ids), 1)
            if task.creds is None:
                return _Outcome(
                    task, None, 0, f"{task.platform} account {task.gate_key}: no usable token"
                )
            if task.platform == "mastodon":
                return _Outcome(task, self._mastodon.read(task.creds, ids), 1)
            return _Outcome(task, self._facebook.read(task.creds, ids), 1)
        except TransientError as exc:
            if exc.rate_limited:
                wait = exc.retry_after if exc.retry_after is not None else 900.0
                self.metrics.rate_limited(task.platform, wait, Work.ENGAGEMENT)
                self.gates.block(
                    task.platform, task.gate_key, self.clock() + timedelta(seconds=wait)
                )
            logger.info("%s read of %s posts deferred: %s", task.platform, len(ids), exc.message)
            return _Outcome(task, None, batches, exc.message)
        except PlatformError as exc:
            logger.warning("%s read of %s posts failed: %s", task.platform, len(ids), exc.message)
            return _Outcome(task, None, batches, exc.message)
        except Exception as exc:  # a bug of ours must not stop the round
            logger.exception("%s read failed unexpectedly", task.platform)
            return _Outcome(task, None, batches, f"internal error: {type(exc).__name__}")

    # -- estimates ---------------------------------------------------------------------

    def _estimate(
        self,
        sampled: Mapping[Hashable, tuple[list[DueItem], list[DueItem]]],
        readings: Mapping[int, MetricsReading],
        writer: store.Writer,
    ) -> int:
        written = 0
        for sample, rest in sampled.values():
            read = [i for i in sample if i.delivery_id in readings]
            if not read:
                continue  # nothing read: the whole release stays due
            # A sampled post the platform has deleted leaves the population; one not read
            # (deferred) stays due on its own and is not counted here either.
            live = [i for i in read if not readings[i.delivery_id].deleted]
            population = len(live) + len(rest)
            got = [readings[i.delivery_id] for i in live]
            metrics = sorted({m for r in got for m in r.values})
            for metric in metrics:
                values = [v for r in got if (v := r.values.get(metric)) is not None]
                estimate = sampling.estimate_total(values, population) if len(values) >= 2 else None
                writer.estimate(sample[0], metric, estimate, population, len(values))
                written += 1
            writer.members([*live, *rest], population, len(live))
            writer.covered(rest)
        return written


def public_mastodon(platform_user_id: str) -> Credentials | None:
    """Tokenless credentials for reading a Mastodon account's public statuses: its server
    from the account's key (``id@host``, bot.platforms.mastodon.adapter.local_id)."""
    _, at, host = platform_user_id.partition("@")
    return (
        Credentials("", platform_user_id=platform_user_id, server=f"https://{host}") if at else None
    )


def poller_for(runtime: Runtime) -> Poller:
    """The poller the daemon and `engagement refresh` use, from the settings."""
    s = runtime.settings
    return Poller(
        runtime.sessions,
        runtime.platforms,
        runtime.vault,
        offsets=s.engagement_offsets,
        x_read_cost=s.x_read_cost_usd,
        concurrency=s.engagement_concurrency,
        metrics=runtime.metrics,
    )
