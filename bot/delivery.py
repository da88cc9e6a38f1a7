"""Sending one delivery: the only place that retries, backs off and waits out rate limits.

Adapters make one attempt and classify the outcome (bot/platforms/base.py); this module
reads that class and records what happens next in the ledger:

    TransientError  → pending again after backoff with jitter (or the platform's reset
                      time); a rate limit does not count as an attempt; after
                      MAX_ATTEMPTS the delivery fails
    AuthError       → failed, and the account is marked needs-reconnect
    PermanentError  → failed with the platform's message
    OutcomeUnknown  → unknown: the next attempt looks on the platform first
    anything else   → treated as transient (capped by MAX_ATTEMPTS), logged with a trace
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.db.models import utcnow
from bot.ledger import Job, Ledger
from bot.platforms.base import (
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    Platform,
    PlatformError,
    TransientError,
)
from bot.vault import Vault, VaultError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    reconcile_seconds: float = 2.0  # first look after an unknown outcome

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the platform's word if it gave
        one, else exponential backoff with full jitter in [0.5, 1.5) × the step."""
        if retry_after is not None:
            return max(0.0, retry_after)
        step = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        return min(self.max_seconds, step * (0.5 + rng.random()))


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


class Deliverer:
    def __init__(
        self,
        ledger: Ledger,
        platforms: Mapping[str, Platform],
        vault: Vault,
        policy: RetryPolicy,
        *,
        gates: RateGates | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.ledger = ledger
        self.platforms = platforms
        self.vault = vault
        self.policy = policy
        self.gates = gates or RateGates()
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def run(self, delivery_id: int) -> str | None:
        """Attempt one delivery if it is due and still ours to send; return what happened
        ("sent", "retry", "failed", "unknown", "deferred", "cancelled") or None."""
        now = self.clock()
        job = self.ledger.claim(delivery_id, now)
        if job is None:
            return None
        try:
            return self._attempt(job)
        except Exception as exc:  # a bug of ours must not leave the row "sending"
            logger.exception("delivery %s (%s): unexpected error", job.delivery_id, job.label)
            return self._transient(job, TransientError(f"internal error: {type(exc).__name__}"))

    def _attempt(self, job: Job) -> str:
        now = self.clock()
        gate = self.gates.open_at(job.platform, job.account_id, now)
        if gate is not None:
            self.ledger.retry_later(
                job,
                gate,
                "waiting for the platform's rate limit to reset",
                "transient",
                now,
                count_attempt=False,
            )
            return "deferred"
        try:
            creds = self.vault.open(job.sealed_credentials)
        except VaultError as exc:
            self.ledger.failed(job, str(exc), "config", now)
            return "failed"
        platform = self.platforms[job.platform]
        ids = list(job.platform_ids)
        index = job.parts_done
        if job.check_first and index < len(job.parts):
            outcome = self._check(job, platform, creds, index, ids)
            if outcome == "found":
                index += 1
            elif outcome != "absent":
                return outcome
            if outcome == "absent" and job.cancelled:
                self.ledger.cancelled(job, self.clock())
                return "cancelled"
        while index < len(job.parts):
            try:
                published = platform.publish(
                    creds,
                    job.parts[index],
                    reply_to=ids[-1] if index > 0 else None,
                    link=job.link if index == 0 else None,
                    publish_at=job.publish_at,
                )
            except PlatformError as exc:
                return self._classified(job, exc)
            ids.append(published.platform_id)
            index += 1
            if index < len(job.parts):
                self.ledger.part_done(job, index - 1, ids, published, self.clock())
            else:  # the last part: one write records it and the result
                self.ledger.sent(job, ids, published, self.clock())
                break
        else:  # nothing left to send (the check found the last part already out)
            self.ledger.sent(job, ids, None, self.clock())
        logger.info("sent %s to %s @%s", job.label, job.platform, job.account_handle)
        return "sent"

    def _check(
        self, job: Job, platform: Platform, creds: Credentials, index: int, ids: list[str]
    ) -> str:
        """Reconcile an unknown outcome: is part ``index`` already on the platform?"""
        try:
            found = platform.find_recent(creds, job.parts[index], job.since)
        except AuthError as exc:
            return self._classified(job, exc)
        except PlatformError as exc:
            now = self.clock()
            wait = self.policy.delay(job.attempts, getattr(exc, "retry_after", None), self._rng)
            self.ledger.unknown(
                job,
                now + timedelta(seconds=wait),
                f"could not check yet whether it went out: {exc.message}",
                now,
            )
            return "unknown"
        if found is None:
            logger.info("%s was not found on @%s: sending it", job.label, job.account_handle)
            return "absent"
        logger.info(
            "%s was already on @%s (%s): not resending",
            job.label,
            job.account_handle,
            found.platform_id,
        )
        ids.append(found.platform_id)
        self.ledger.part_done(job, index, ids, found, self.clock())
        return "found"

    def _classified(self, job: Job, exc: PlatformError) -> str:
        now = self.clock()
        if isinstance(exc, TransientError):
            return self._transient(job, exc)
        if isinstance(exc, OutcomeUnknown):
            due = now + timedelta(seconds=self.policy.reconcile_seconds)
            self.ledger.unknown(job, due, f"no answer after sending: {exc.message}", now)
            logger.warning(
                "%s to @%s: outcome unknown (%s); will check before resending",
                job.label,
                job.account_handle,
                exc.message,
            )
            return "unknown"
        if isinstance(exc, AuthError):
            reason = f"{job.platform} rejected the token: {exc.message}"
            self.ledger.failed(job, reason, "auth", now)
            self.ledger.account_needs_reconnect(job.account_id, reason)
            logger.warning(
                "%s: @%s needs reconnecting (%s)", job.label, job.account_handle, exc.message
            )
            return "failed"
        kind = "permanent" if isinstance(exc, PermanentError) else exc.kind
        self.ledger.failed(job, exc.message, kind, now)
        logger.warning("%s to @%s failed: %s", job.label, job.account_handle, exc.message)
        return "failed"

    def _transient(self, job: Job, exc: TransientError) -> str:
        now = self.clock()
        if exc.rate_limited:
            wait = exc.retry_after if exc.retry_after is not None else self.policy.max_seconds
            until = now + timedelta(seconds=wait)
            self.gates.block(job.platform, job.account_id, until)
            self.ledger.retry_later(
                job, until, f"rate limited: {exc.message}", "transient", now, count_attempt=False
            )
            return "deferred"
        if job.attempts >= self.policy.max_attempts:
            self.ledger.failed(
                job, f"gave up after {job.attempts} attempts: {exc.message}", "transient", now
            )
            logger.warning(
                "%s to @%s: gave up after %s attempts (%s)",
                job.label,
                job.account_handle,
                job.attempts,
                exc.message,
            )
            return "failed"
        wait = self.policy.delay(job.attempts, exc.retry_after, self._rng)
        self.ledger.retry_later(job, now + timedelta(seconds=wait), exc.message, "transient", now)
        logger.info(
            "%s to @%s: %s; retrying in %.1fs", job.label, job.account_handle, exc.message, wait
        )
        return "retry"
