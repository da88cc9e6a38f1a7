"""Sending: each alert to each of its channels, with retries, never blocking anything.

``plan`` writes one ``alert_sends`` row per channel (``pending``) in the same transaction
as the alert, so a crash leaves evidence rather than silence. ``Sender.run`` claims due
rows with a conditional UPDATE (the row count says who won, so two watchers never send
one row twice), makes one attempt per row with a short timeout, several rows at once,
with no database session open during the network calls, and records the outcome: sent;
tried again later (backoff); or, after the last attempt or a permanent refusal,
``undelivered`` with the reason in the inbox.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import channel_settings
from bot.alerts.channels import email as email_channel
from bot.alerts.channels import webhook as webhook_channel
from bot.alerts.channels.base import AlertMessage, TransportError
from bot.alerts.events import AlertKind, Channel, SendState
from bot.pledges.mail import Mailer
from bot.storage.models import Alert, AlertEvent, AlertSend, utcnow
from bot.storage.vault import Vault, VaultError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendPolicy:
    timeout: float = 5.0  # one attempt; a receiver that hangs costs at most this
    backoff: tuple[float, ...] = (10.0, 60.0, 300.0)  # waits between attempts
    stale_after: float = 120.0  # a claim older than this had its sender die
    # At most two attempts per worker per round: a round with every receiver hanging ends
    # within two timeouts, so stopping the daemon never waits on it for long.
    batch: int = 8
    workers: int = 4  # a hanging webhook does not hold up another campaign's email

    @property
    def attempts(self) -> int:
        return len(self.backoff) + 1


@dataclass
class SendRound:
    sent: int = 0
    retrying: int = 0
    undelivered: int = 0
    errors: list[str] = field(default_factory=list)


def message_for(session: Session, alert: Alert) -> AlertMessage:
    examples = tuple(
        session.scalars(
            select(AlertEvent.detail)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(AlertEvent.occurred_at, AlertEvent.id)
            .limit(10)
        )
    )
    campaign = alert.campaign
    return AlertMessage(
        id=alert.id,
        kind=alert.kind,
        campaign_slug=campaign.slug if campaign else None,
        campaign_title=(campaign.title or campaign.slug) if campaign else None,
        count=alert.count,
        title=alert.title,
        text=alert.text,
        link=alert.link,
        first_at=alert.first_at,
        last_at=alert.last_at,
        created_at=alert.created_at,
        examples=examples,
    )


def plan(
    session: Session, vault: Vault, alert: Alert, now: datetime, *, every_channel: bool = False
) -> int:
    """Write a pending send for each channel that takes this alert's kind (every channel
    of the campaign for a test). An alert for no campaign goes to every campaign that
    takes its kind, each address and webhook once."""
    kind = AlertKind(alert.kind)
    if alert.campaign_id is not None:
        campaigns = [alert.campaign_id]
    else:
        campaigns = channel_settings.subscribed(session, kind)
    emailed: set[str] = set()
    hooked: set[str] = set()
    made = 0
    for campaign_id in campaigns:
        try:
            opened = channel_settings.open_channels(session, vault, campaign_id)
        except VaultError as exc:
            logger.error("campaign %s: alert channels cannot be opened: %s", campaign_id, exc)
            continue
        if opened is None or not (every_channel or kind in opened.events):
            continue
        emails = [e for e in opened.emails if e.lower() not in emailed]
        if emails:
            emailed.update(e.lower() for e in emails)
            session.add(_send(alert, campaign_id, Channel.EMAIL, ", ".join(emails), now))
            made += 1
        if opened.webhook_url and opened.webhook_url not in hooked:
            hooked.add(opened.webhook_url)
            session.add(_send(alert, campaign_id, Channel.WEBHOOK, opened.webhook_host, now))
            made += 1
    return made


def _send(
    alert: Alert, campaign_id: int, channel: Channel, target: str, now: datetime
) -> AlertSend:
    return AlertSend(
        alert_id=alert.id,
        campaign_id=campaign_id,
        channel=channel.value,
        target=target,
        state=SendState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        last_error="",
    )


Attempt = Callable[[], None]


class Sender:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: Vault,
        mailer: Mailer,
        policy: SendPolicy = SendPolicy(),
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.mailer = mailer
        self.policy = policy
        self.clock = clock

    def run(self, alert_id: int | None = None) -> SendRound:
        """One round: every due send (or only ``alert_id``'s), each attempted once."""
        now = self.clock()
        result = SendRound()
        with self.sessions() as session:
            session.execute(
                update(AlertSend)
                .where(
                    AlertSend.state == SendState.SENDING.value,
                    AlertSend.claimed_at < now - timedelta(seconds=self.policy.stale_after),
                )
                .values(state=SendState.PENDING.value)
            )
            query = select(AlertSend.id).where(
                AlertSend.state == SendState.PENDING.value, AlertSend.next_attempt_at <= now
            )
            if alert_id is not None:
                query = query.where(AlertSend.alert_id == alert_id)
            due = list(session.scalars(query.order_by(AlertSend.id).limit(self.policy.batch)))
            attempts: list[tuple[int, int, Attempt | TransportError]] = []
            for send_id in due:
                claimed = session.execute(
                    update(AlertSend)
                    .where(AlertSend.id == send_id, AlertSend.state == SendState.PENDING.value)
                    .values(
                        state=SendState.SENDING.value,
                        claimed_at=now,
                        attempts=AlertSend.attempts + 1,
                    )
                ).rowcount  # type: ignore[attr-defined]
                if claimed != 1:
                    continue  # another watcher got there first
                send = session.get(AlertSend, send_id)
                assert send is not None
                # loaded after the claim: ``attempts`` counts this one
                attempts.append((send_id, send.attempts, self._prepare(session, send)))
            session.commit()
        if not attempts:
            return result
        with ThreadPoolExecutor(
            max_workers=min(self.policy.workers, len(attempts)), thread_name_prefix="alert-send"
        ) as pool:
            futures = [
                (send_id, tries, pool.submit(_attempt, job)) for send_id, tries, job in attempts
            ]
            outcomes = [(send_id, tries, future.result()) for send_id, tries, future in futures]
        with self.sessions() as session:
            for send_id, tries, problem in outcomes:
                self._record(session, send_id, tries, problem, result)
            session.commit()
        return result

    def _prepare(self, session: Session, send: AlertSend) -> Attempt | TransportError:
        """The attempt to make, built while the session is open; or why none can be."""
        message = message_for(session, send.alert)
        try:
            opened = channel_settings.open_channels(session, self.vault, send.campaign_id)
        except VaultError as exc:
            return TransportError(str(exc), permanent=True)
        if send.channel == Channel.EMAIL.value:
            to = tuple(a.strip() for a in send.target.split(",") if a.strip())
            mailer = self.mailer
            return lambda: email_channel.send(mailer, to, message)
        if opened is None or not opened.webhook_url:
            return TransportError("the campaign no longer has a webhook", permanent=True)
        request = webhook_channel.build(
            opened.webhook_url,
            opened.webhook_format,
            opened.webhook_secret,
            message,
            timestamp=int(time.time()),
            send_id=send.id,
        )
        host, timeout = opened.webhook_host, self.policy.timeout
        return lambda: webhook_channel.post(request, host, timeout=timeout)

    def _record(
        self,
        session: Session,
        send_id: int,
        tries: int,
        problem: TransportError | None,
        result: SendRound,
    ) -> None:
        now = self.clock()
        send = session.get(AlertSend, send_id)
        if send is None:
            return
        if problem is None:
            send.state, send.sent_at, send.last_error = SendState.SENT.value, now, ""
            result.sent += 1
            return
        send.last_error = problem.message
        result.errors.append(problem.message)
        if problem.permanent or tries >= self.policy.attempts:
            send.state = SendState.UNDELIVERED.value
            result.undelivered += 1
            logger.warning(
                "alert %s by %s (%s) undelivered after %s attempt(s): %s",
                send.alert_id,
                send.channel,
                send.target if send.channel == Channel.WEBHOOK.value else "email",
                tries,
                problem.message,
            )
            return
        wait = self.policy.backoff[min(tries, len(self.policy.backoff)) - 1]
        send.state = SendState.PENDING.value
        send.next_attempt_at = now + timedelta(seconds=wait)
        result.retrying += 1
        logger.info(
            "alert %s by %s: attempt %s failed (%s); trying again in %ss",
            send.alert_id,
            send.channel,
            tries,
            problem.message,
            wait,
        )


def _attempt(job: Attempt | TransportError) -> TransportError | None:
    if isinstance(job, TransportError):
        return job
    try:
        job()
    except TransportError as exc:
        return exc
    except Exception as exc:  # a bug in a channel must not stop the other sends
        logger.exception("an alert channel failed unexpectedly")
        return TransportError(f"unexpected error: {type(exc).__name__}")
    return None
