"""How long to wait before trying again, and when each account may next be called.

``RetryPolicy`` is the delivery engine's budget and backoff; ``RateGates`` remembers
rate-limit answers per account. Both are read by bot/delivery/deliverer.py, the one place that
retries; the engagement poller shares ``RateGates`` for its reads.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    # The longest wait between tries while a platform cannot be reached or rate-limits
    # without saying for how long: short, so a post goes out soon after an outage ends.
    outage_max_seconds: float = 30.0
    reconcile_seconds: float = 5.0  # first look after an unknown outcome
    # A post's absence is trusted only this long after our first attempt: a platform's
    # timeline can lag behind a post it has just accepted.
    settle_seconds: float = 10.0
    late_after: timedelta | None = timedelta(minutes=15)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the platform's word if it gave
        one, else exponential backoff with full jitter in [0.5, 1.5) × the step."""
        if retry_after is not None:
            return max(0.0, retry_after)
        step = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return min(self.max_seconds, step * (0.5 + rng.random()))

    def outage_delay(self, failing_for: timedelta, rng: random.Random) -> float:
        """Seconds to wait before trying again while nothing reaches the platform.

        Such waits are not counted as attempts, so the step grows with how long the
        delivery has been failing instead: half of it (so about doubling), at least
        ``base_seconds``, with the same jitter, capped at ``outage_max_seconds`` (and
        ``max_seconds``, if smaller)."""
        cap = min(self.max_seconds, self.outage_max_seconds)
        step = min(cap, max(self.base_seconds, failing_for.total_seconds() / 2))
        return min(cap, step * (0.5 + rng.random()))


class RateGates:
    """When each account (and platform) may next be called, from rate-limit answers.

    Kept in memory: after a restart the platform simply answers 429 once more.
    """

    def __init__(self) -> None:
        self._until: dict[tuple[str, int], datetime] = {}
        self._lock = threading.Lock()

    def block(self, platform: str, account_id: int, until: datetime) -> None:
        with self._lock:
            key = (platform, account_id)
            if until > self._until.get(key, until - timedelta(seconds=1)):
                self._until[key] = until

    def open_at(self, platform: str, account_id: int, now: datetime) -> datetime | None:
        with self._lock:
            until = self._until.get((platform, account_id))
            if until is None or until <= now:
                self._until.pop((platform, account_id), None)
                return None
            return until
