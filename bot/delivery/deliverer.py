"""Sending one delivery: the only place that retries, backs off and waits out rate limits.

Adapters make one attempt and classify the outcome (bot/platforms/base.py); this module
reads that class and records what happens next in the ledger:

    TransientError  → pending again after backoff with jitter (or the platform's reset
                      time); after MAX_ATTEMPTS the delivery fails. A rate limit, or a
                      failure before the request reached the platform (refused, DNS,
                      connect timeout: ``not_sent``), is not an attempt: it is waited
                      out (backoff capped at ``outage_max_seconds``) until the post's
                      grace (``late_after``) runs out, and then it is missed. If the
                      error says the post may have been created (a 5xx to a create),
                      it is handled as unknown.
    AuthError       → failed, and the account is marked needs-reconnect
    PermanentError  → failed with the platform's message — except a "duplicate" answer
                      after an attempt of ours whose outcome was unknown: that is most
                      likely our own post, so it is looked for instead
    OutcomeUnknown  → unknown: the next attempt looks on the platform first
    anything else   → unknown (a bug of ours may strike after the post went out), logged

The one rule above all: a delivery that may already be on the platform is never sent
again without looking for it first. And nothing goes out later than ``late_after`` past
its time: a demo reminder posted after the demo is worse than none.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import TypeGuard

from bot.campaigns.enqueue import FACEBOOK_HOLD_MIN
from bot.delivery.ledger import Job, Ledger
from bot.delivery.outcomes import Check, ErrorKind, Outcome
from bot.delivery.policy import RateGates, RetryPolicy
from bot.monitoring.metrics import Metrics, Work
from bot.platforms.base import (
    AsyncPublisher,
    AsyncReconciler,
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    Platform,
    PlatformError,
    Published,
    TransientError,
    Wanted,
)
from bot.platforms.record_keys import part_record_key
from bot.storage.models import utcnow
from bot.storage.vault import Vault, VaultError

__all__ = ["Deliverer", "RateGates", "RetryPolicy"]

logger = logging.getLogger(__name__)

# The last try of a post the platform cannot be reached for is made this long before its
# grace runs out, so that it is still in time when it is claimed.
_LAST_TRY_MARGIN = timedelta(seconds=1)
_UNREACHABLE_EVERY = timedelta(minutes=1)


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
        metrics: Metrics | None = None,
    ) -> None:
        self.ledger = ledger
        self.platforms = platforms
        self.vault = vault
        self.policy = policy
        self.gates = gates or RateGates()
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.metrics = metrics if metrics is not None else Metrics()
        # Asked before every request that could create a post: a scaled-out worker says
        # no once it cannot vouch for its lease (bot/delivery/roles.py ``Worker``), so a
        # worker cut off from the database never sends after the scheduler may have
        # handed its claims on. None: always yes (one process, one lock).
        self.may_send: Callable[[], str | None] | None = None
        # When this attempt's request to create the post was made, per delivery: what an
        # unknown outcome is settled from (a queued or retried attempt starts late).
        self._publishing: dict[int, datetime] = {}
        # When each platform was last said to be unreachable (a log line a minute).
        self._unreachable_said: dict[str, datetime] = {}

    def run(self, delivery_id: int) -> Outcome | None:
        """Attempt one delivery if it is due and still ours to send; return what happened
        (an ``Outcome``) or None when it was not ours to send. (The daemon claims in batches
        through bot/delivery/dispatcher.py; this is the one-at-a-time form.)"""
        job = self.ledger.claim(delivery_id, self.clock())
        if job is None:
            return None
        return self.run_claimed(job)

    def run_claimed(self, job: Job) -> Outcome:
        """Attempt a delivery this worker has claimed (``Ledger.claim_due``)."""
        try:
            return self._attempt(job)
        except Exception as exc:
            # A bug or a database error may strike after the post went out: never
            # resend blindly, look for it first. (If even this write fails, the row
            # stays "sending" and the daemon's stale-claim sweep makes it unknown.)
            logger.exception(
                "delivery %s (%s): unexpected error", job.delivery_id, job.label, extra=job.log_ids
            )
            return self._unknown(job, f"internal error ({type(exc).__name__})")
        finally:
            self.finished(job)

    def _check_may_send(self) -> None:
        """Raise a not-sent TransientError when this worker may not send now (``may_send``):
        the claim goes back to the queue as after an outage, not counted as a try."""
        why = self.may_send() if self.may_send is not None else None
        if why is not None:
            raise TransientError(f"not sent: {why}", not_sent=True)

    def finished(self, job: Job) -> None:
        """Forget this attempt's request time (its outcome is recorded)."""
        self._publishing.pop(job.delivery_id, None)

    # --- the burst path (bot/delivery/dispatcher.py) -----------------------------------------

    def simple(self, job: Job, now: datetime) -> bool:
        """Whether ``_attempt`` would do nothing but send one post: a single part never
        tried with an unknown outcome, on time, not rate-gated, not held by Facebook, its
        post not cancelled by the time the job was read (the thread path records that).
        Only those take the asyncio path; everything else goes through ``run_claimed``."""
        return (
            not job.check_first
            and not job.cancelled
            and job.parts_done == 0
            and len(job.parts) == 1
            and job.publish_at is None
            and not self._too_late(job, now)
            and self.gates.open_at(job.platform, job.account_id, now) is None
        )

    async def send_simple(self, job: Job, publisher: AsyncPublisher) -> Outcome:
        """Send a ``simple`` job on asyncio and record its success (group commit when the
        ledger has it). A failure raises: the caller records it with ``after_failure``,
        in a thread."""
        creds = self.vault.open(job.sealed_credentials)
        self._check_may_send()
        self._publishing[job.delivery_id] = self.clock()
        self.metrics.request_started(job.platform, job.due_at, self._publishing[job.delivery_id])
        publish = publisher.publish
        if _keyed(self.platforms[job.platform], job):
            publish = partial(publisher.publish, record_key=job.record_key)
        published = await publish(
            creds, job.parts[0], link=job.link, idempotency_key=job.idempotency_key(0)
        )
        self.metrics.published(job.platform, job.due_at, self.clock())
        ids = [published.platform_id]
        later = self.ledger.sent_later(job, ids, published, self.clock())
        if later is not None:
            kept = await asyncio.wrap_future(later)
        else:  # no group commit: write in a thread, never in the event loop
            kept = await asyncio.to_thread(self.ledger.sent, job, ids, published, self.clock())
        if not kept:
            return Outcome.LOST
        return _logged_sent(job)

    def after_failure(self, job: Job, exc: BaseException) -> Outcome:
        """Record what a failed ``send_simple`` means, exactly as ``run_claimed`` would have
        (blocking: run it in a thread)."""
        try:
            if isinstance(exc, PlatformError):
                return self._classified(job, exc)
            if isinstance(exc, VaultError):
                return self._transient(job, TransientError(str(exc), code="vault"))
            logger.error(
                "delivery %s (%s): unexpected error",
                job.delivery_id,
                job.label,
                exc_info=(type(exc), exc, exc.__traceback__),
                extra=job.log_ids,
            )
            return self._unknown(job, f"internal error ({type(exc).__name__})")
        except Exception as error:
            logger.exception(
                "delivery %s (%s): unexpected error", job.delivery_id, job.label, extra=job.log_ids
            )
            return self._unknown(job, f"internal error ({type(error).__name__})")

    # --- settling unknown outcomes in batches (bot/delivery/dispatcher.py) -----------------

    def settleable(self, job: Job, now: datetime) -> bool:
        """Whether a job whose outcome is unknown can be settled on the asyncio path: one
        post (not a thread, nothing of it recorded out yet), not held by Facebook (its
        absence is read from scheduled posts, on the threaded path), not rate-gated. After
        the look it is either recorded or, when provably absent, sent as ``simple`` jobs
        are."""
        return (
            job.check_first
            and job.parts_done == 0
            and len(job.parts) == 1
            and job.publish_at is None
            and self.gates.open_at(job.platform, job.account_id, now) is None
        )

    async def reconcile(
        self, jobs: Sequence[Job], reconciler: AsyncReconciler
    ) -> list[Outcome | None]:
        """Look once on the platform for every job (``settleable``, all of one account) and
        record what the look settles: found → sent, not resent; a failed look → as
        ``_check`` records it. None for a job that is provably not there and may be sent
        now (the caller sends it with ``send_simple``, under the claim it already holds).
        Blocking writes go to threads; a found post's write to the group commit."""
        try:
            creds = self.vault.open(jobs[0].sealed_credentials)
        except VaultError as exc:
            message = str(exc)
            return list(
                await asyncio.gather(
                    *(asyncio.to_thread(self._unknown, job, message) for job in jobs)
                )
            )
        wanted = [Wanted(job.parts[0], job.link, job.since) for job in jobs]
        try:
            found = await reconciler.find_recent_many(creds, wanted)
        except PlatformError as exc:
            return list(
                await asyncio.gather(
                    *(asyncio.to_thread(self.check_failed, job, exc) for job in jobs)
                )
            )
        return list(
            await asyncio.gather(
                *(self._settled(job, post) for job, post in zip(jobs, found, strict=True))
            )
        )

    async def _settled(self, job: Job, post: Published | None) -> Outcome | None:
        """Record what one look found for ``job`` (see ``reconcile``)."""
        if post is None:
            return await asyncio.to_thread(self.not_there, job)
        logger.info(
            "%s was already on %s (%s): not resending",
            job.label,
            job.account_handle,
            post.platform_id,
            extra=job.log_ids,
        )
        ids = [post.platform_id]
        later = self.ledger.sent_later(job, ids, post, self.clock())
        if later is not None:
            kept = await asyncio.wrap_future(later)
        else:
            kept = await asyncio.to_thread(self.ledger.sent, job, ids, post, self.clock())
        return Outcome.SENT if kept else Outcome.LOST

    def check_failed(self, job: Job, exc: PlatformError) -> Outcome:
        """Record a look for an unknown outcome that could not be made (blocking)."""
        now = self.clock()
        if isinstance(exc, AuthError):
            return self._classified(job, exc)
        self.metrics.platform_error(job.platform, exc, now)
        if isinstance(exc, PermanentError):
            return self._unconfirmed(job, exc.message)
        if _waited_out(exc) and not self._past_grace(job, now):
            # The look never reached the platform: an outage, not a try. Past the grace,
            # though, the budget below holds, as for every other failure.
            wait = self._outage_wait(job, exc, now)
            self.ledger.unknown(
                job,
                now + timedelta(seconds=wait),
                f"could not check yet whether it went out: {exc.message}",
                now,
                count_attempt=False,
            )
            return Outcome.UNKNOWN
        if job.attempts >= self.policy.max_attempts:
            return self._unconfirmed(job, exc.message)
        wait = self.policy.delay(job.attempts, getattr(exc, "retry_after", None), self._rng)
        self.ledger.unknown(
            job,
            now + timedelta(seconds=wait),
            f"could not check yet whether it went out: {exc.message}",
            now,
        )
        return Outcome.UNKNOWN

    def not_there(self, job: Job) -> Outcome | None:
        """A single post the look did not find: record why it is not sent now (too soon to
        trust its absence, cancelled, too late), or None: send it (blocking)."""
        now = self.clock()
        settled = job.uncertain_since + timedelta(seconds=self.policy.settle_seconds)
        if now < settled:
            # Too soon to trust its absence: the timeline may not show it yet. A wait,
            # not a try.
            self.ledger.unknown(
                job,
                settled,
                "not seen yet; looking again before resending",
                now,
                count_attempt=False,
            )
            return Outcome.UNKNOWN
        if job.cancelled:
            self.ledger.cancelled(job, now)
            return Outcome.CANCELLED
        if self._too_late(job, now):
            return self._missed(job, now)
        logger.info(
            "%s was not found on %s: sending it", job.label, job.account_handle, extra=job.log_ids
        )
        return None

    def hold(self, job: Job, until: datetime, why: str) -> Outcome:
        """Put a claimed job back unsent until ``until``: a shared allowance is spent
        (bot/delivery/shared_limits.py). A wait, not a try; missed instead when no try at
        ``until`` could be in time, as for a rate limit (blocking)."""
        now = self.clock()
        if job.check_first:  # keep the check: it may already be out
            self.ledger.unknown(job, until, why, now, count_attempt=False)
            return Outcome.DEFERRED
        late = self.policy.late_after
        if late is not None and until > job.scheduled_at + late - _LAST_TRY_MARGIN:
            minutes = int(late.total_seconds() // 60)
            return self._missed(job, now, f"{why} until after its {minutes}-minute grace")
        self.ledger.retry_later(job, until, why, ErrorKind.TRANSIENT, now, count_attempt=False)
        return Outcome.DEFERRED

    def _too_late(self, job: Job, now: datetime) -> bool:
        late = self.policy.late_after
        return late is not None and now - job.scheduled_at > late

    def _attempt(self, job: Job) -> Outcome:
        now = self.clock()
        if job.parts_done == 0 and not job.check_first and self._too_late(job, now):
            return self._missed(job, now)
        gate = self.gates.open_at(job.platform, job.account_id, now)
        if gate is not None:
            message = "waiting for the platform's rate limit to reset"
            if job.check_first:  # keep the check: it may already be out
                self.ledger.unknown(job, gate, message, now, count_attempt=False)
            else:
                self.ledger.retry_later(
                    job, gate, message, ErrorKind.TRANSIENT, now, count_attempt=False
                )
            return Outcome.DEFERRED
        publish_at = job.publish_at
        if publish_at is not None and publish_at - now < FACEBOOK_HOLD_MIN:
            # Too close for Facebook to hold it (it needs 10 minutes): post it ourselves
            # at the time instead.
            if now < publish_at and not job.check_first:
                self.ledger.retry_later(
                    job,
                    publish_at,
                    "posting at the time itself: too close for Facebook to hold",
                    ErrorKind.TRANSIENT,
                    now,
                    count_attempt=False,
                )
                return Outcome.DEFERRED
            publish_at = None
        try:
            creds = self.vault.open(job.sealed_credentials)
        except VaultError as exc:
            if job.check_first:
                return self._unknown(job, str(exc))
            return self._transient(job, TransientError(str(exc), code="vault"))
        platform = self.platforms[job.platform]
        ids = list(job.platform_ids)
        index = job.parts_done
        if job.check_first and index < len(job.parts):
            outcome = self._check(job, platform, creds, index, ids)
            if outcome == Check.FOUND:
                index += 1
            elif outcome != Check.ABSENT:
                return outcome
            if job.cancelled:
                self.ledger.cancelled(job, self.clock())
                return Outcome.CANCELLED
            if outcome == Check.ABSENT and index == 0 and self._too_late(job, self.clock()):
                return self._missed(job, self.clock())
        while index < len(job.parts):
            try:
                self._check_may_send()
            except PlatformError as exc:
                return self._classified(job, exc)
            started = self._publishing[job.delivery_id] = self.clock()
            if index == job.parts_done:  # the attempt's first request
                self.metrics.request_started(job.platform, job.due_at, started)
            try:
                publish = platform.publish
                if _keyed(platform, job):
                    key = part_record_key(str(job.record_key), index)
                    publish = partial(platform.publish, record_key=key)
                published = publish(
                    creds,
                    job.parts[index],
                    reply_to=ids[-1] if index > 0 else None,
                    link=job.link if index == 0 else None,
                    publish_at=publish_at,
                    idempotency_key=job.idempotency_key(index),
                )
            except PlatformError as exc:
                return self._classified(job, exc)
            ids.append(published.platform_id)
            index += 1
            last = index == len(job.parts)
            if last:  # one write records the last part and the result
                self.metrics.published(job.platform, job.due_at, self.clock())
                kept = self.ledger.sent(job, ids, published, self.clock())
            else:
                kept = self.ledger.part_done(job, index - 1, ids, published, self.clock())
            if not kept:  # another worker took the row: stop, whatever is left is theirs
                return Outcome.LOST
            if last:
                return _logged_sent(job)
        # Nothing left to send: the check found the last part already out.
        self.ledger.sent(job, ids, None, self.clock())
        return Outcome.SENT

    def _check(
        self, job: Job, platform: Platform, creds: Credentials, index: int, ids: list[str]
    ) -> Outcome | Check:
        """Reconcile an unknown outcome: is part ``index`` already on the platform?"""
        now = self.clock()
        try:
            find = platform.find_recent
            if _keyed(platform, job):
                key = part_record_key(str(job.record_key), index)
                find = partial(platform.find_recent, record_key=key)
            found = find(creds, job.parts[index], job.since, link=job.link if index == 0 else None)
        except PlatformError as exc:
            return self.check_failed(job, exc)
        if found is not None:
            logger.info(
                "%s was already on %s (%s): not resending",
                job.label,
                job.account_handle,
                found.platform_id,
                extra=job.log_ids,
            )
            ids.append(found.platform_id)
            self.ledger.part_done(job, index, ids, found, now)
            return Check.FOUND
        settled = job.uncertain_since + timedelta(seconds=self.policy.settle_seconds)
        if now < settled:
            # Too soon to trust its absence: the timeline may not show it yet. A wait,
            # not a try.
            self.ledger.unknown(
                job,
                settled,
                "not seen yet; looking again before resending",
                now,
                count_attempt=False,
            )
            return Outcome.UNKNOWN
        logger.info(
            "%s was not found on %s: sending it", job.label, job.account_handle, extra=job.log_ids
        )
        return Check.ABSENT

    def _classified(self, job: Job, exc: PlatformError) -> Outcome:
        now = self.clock()
        self.metrics.platform_error(job.platform, exc, now)
        if isinstance(exc, TransientError):
            if exc.maybe_sent and not exc.rate_limited:
                return self._unknown(job, f"{exc.message}; it may have been posted")
            return self._transient(job, exc)
        if isinstance(exc, OutcomeUnknown):
            return self._unknown(job, f"no answer after sending: {exc.message}")
        if isinstance(exc, AuthError):
            reason = f"{job.platform} rejected the token: {exc.message}"
            self.ledger.failed(job, reason, ErrorKind.AUTH, now)
            self.ledger.account_needs_reconnect(job.account_id, reason)
            logger.warning(
                "%s: %s needs reconnecting (%s)",
                job.label,
                job.account_handle,
                exc.message,
                extra=job.log_ids,
            )
            return Outcome.FAILED
        if (
            isinstance(exc, PermanentError)
            and exc.duplicate
            and (job.check_first or job.attempts > 1)
        ):
            # After an attempt whose outcome we did not learn, "duplicate" most likely
            # means our own post is there: look for it rather than call it failed.
            return self._unknown(job, f"{exc.message}; probably our earlier attempt")
        kind = ErrorKind.PERMANENT if isinstance(exc, PermanentError) else exc.kind
        self.ledger.failed(job, exc.message, kind, now)
        logger.warning(
            "%s to %s failed: %s",
            job.label,
            job.account_handle,
            exc.message,
            extra=job.log_ids,
        )
        return Outcome.FAILED

    def _unknown(self, job: Job, message: str) -> Outcome:
        if job.attempts >= self.policy.max_attempts:
            return self._unconfirmed(job, message)
        now = self.clock()
        due = now + timedelta(seconds=self.policy.reconcile_seconds)
        self.ledger.unknown(job, due, message, now, since=self._publishing.get(job.delivery_id))
        logger.warning(
            "%s to %s: outcome unknown (%s); will look before resending",
            job.label,
            job.account_handle,
            message,
            extra=job.log_ids,
        )
        return Outcome.UNKNOWN

    def _unconfirmed(self, job: Job, message: str) -> Outcome:
        """The check itself cannot be done: stop, and tell a person to look."""
        self.ledger.failed(
            job,
            f"could not confirm whether it went out ({message}); look on "
            f"{job.account_handle} and queue it again if it is missing",
            ErrorKind.UNKNOWN,
            self.clock(),
        )
        logger.warning(
            "%s to %s: could not confirm whether it went out (%s)",
            job.label,
            job.account_handle,
            message,
            extra=job.log_ids,
        )
        return Outcome.FAILED

    def _missed(self, job: Job, now: datetime, why: str = "") -> Outcome:
        late = int((now - job.scheduled_at).total_seconds() // 60)
        what = "it was"
        if job.parts_done:
            what = f"{job.parts_done} of {len(job.parts)} parts were sent; the rest were"
        reason = why or f"it would have been {late} minutes late"
        self.ledger.missed(job, f"{what} not sent: {reason}", now)
        logger.warning(
            "MISSED %s on %s: %s minutes past its time; not sent late (%s)",
            job.label,
            job.account_handle,
            late,
            reason,
            extra=job.log_ids,
        )
        return Outcome.MISSED

    def _past_grace(self, job: Job, now: datetime) -> bool:
        late = self.policy.late_after
        return late is not None and now >= job.scheduled_at + late

    def _outage_wait(self, job: Job, exc: TransientError, now: datetime) -> float:
        """How long to wait out a rate limit or an unreachable platform: the platform's
        word if it gave one, else backoff capped at ``outage_max_seconds``."""
        if exc.retry_after is not None:
            return max(0.0, exc.retry_after)
        return self.policy.outage_delay(now - job.first_sending_at, self._rng)

    def _wait_out(self, job: Job, exc: TransientError, now: datetime) -> Outcome:
        """Pending again after a wait that is not counted as an attempt; missed instead
        once the next try would fall past the post's grace (MISSED_GRACE_MINUTES)."""
        wait = self._outage_wait(job, exc, now)
        until = now + timedelta(seconds=wait)
        if exc.rate_limited:
            self.metrics.rate_limited(job.platform, wait, Work.DELIVERY)
            self.gates.block(job.platform, job.account_id, until)
        late = self.policy.late_after
        if late is not None:
            # One last try just inside the grace, unless the platform asked us to wait
            # longer than that (its rate limit): then no try can be in time.
            last = job.scheduled_at + late - _LAST_TRY_MARGIN
            if until > last and (exc.rate_limited or now >= last):
                minutes = int(late.total_seconds() // 60)
                why = "rate limited" if exc.rate_limited else "could not reach the platform"
                return self._missed(
                    job, now, f"{why} until its {minutes}-minute grace ran out ({exc.message})"
                )
            until = min(until, last)
        if exc.rate_limited:
            message = f"rate limited: {exc.message}"
        else:
            message = f"{exc.message}; trying again until its grace runs out"
        self.ledger.retry_later(job, until, message, ErrorKind.TRANSIENT, now, count_attempt=False)
        if exc.rate_limited:
            return Outcome.DEFERRED
        # Every post to a platform that is down meets this every few seconds: one line
        # a minute per platform says so; each post's retries are debug.
        said = self._unreachable_said.get(job.platform)
        if said is None or now - said >= _UNREACHABLE_EVERY:
            self._unreachable_said[job.platform] = now
            logger.warning(
                "%s cannot be reached (%s): its posts are tried again, at most %.0f s apart, "
                "until each one's grace runs out",
                job.platform,
                exc.message,
                min(self.policy.max_seconds, self.policy.outage_max_seconds),
            )
        logger.debug(
            "%s to %s: %s; trying again in %.1fs",
            job.label,
            job.account_handle,
            exc.message,
            (until - now).total_seconds(),
            extra=job.log_ids,
        )
        return Outcome.RETRY

    def _transient(self, job: Job, exc: TransientError) -> Outcome:
        now = self.clock()
        if _waited_out(exc) and (exc.rate_limited or self.policy.late_after is not None):
            return self._wait_out(job, exc, now)
        if job.attempts >= self.policy.max_attempts:
            self.ledger.failed(
                job,
                f"gave up after {job.attempts} attempts: {exc.message}",
                ErrorKind.TRANSIENT,
                now,
            )
            logger.warning(
                "%s to %s: gave up after %s attempts (%s)",
                job.label,
                job.account_handle,
                job.attempts,
                exc.message,
                extra=job.log_ids,
            )
            return Outcome.FAILED
        wait = self.policy.delay(job.attempts, exc.retry_after, self._rng)
        self.ledger.retry_later(
            job, now + timedelta(seconds=wait), exc.message, ErrorKind.TRANSIENT, now
        )
        logger.info(
            "%s to %s: %s; retrying in %.1fs",
            job.label,
            job.account_handle,
            exc.message,
            wait,
            extra=job.log_ids,
        )
        return Outcome.RETRY


def _waited_out(exc: PlatformError) -> TypeGuard[TransientError]:
    """A rate limit, or a failure that provably left nothing on the platform: waiting it
    out is safe, and it is not the post's fault, so it is not counted as an attempt."""
    return isinstance(exc, TransientError) and (
        exc.rate_limited or (exc.not_sent and not exc.maybe_sent)
    )


def _logged_sent(job: Job) -> Outcome:
    """The one log line of a delivery that went out (its id for LOG_FORMAT=json)."""
    logger.info(
        "sent %s to %s %s",
        job.label,
        job.platform,
        job.account_handle,
        extra=job.log_ids,
    )
    return Outcome.SENT


def _keyed(platform: Platform, job: Job) -> bool:
    """Whether this delivery's record key goes to the platform: only to platforms that let
    the client name its records (Bluesky), and only when the row has one (rows written
    before keys existed have none, and were never for such a platform)."""
    return platform.limits.client_record_keys and job.record_key is not None
