"""The alert watcher: two rounds on their own schedule, each with its own sessions.

``Watcher.check`` reads the database (detection), folds ready groups into alerts and
plans their sends; ``Watcher.send`` makes the attempts. They run as the daemon's
periodic jobs (``periodic``), each in its own thread, or alone (`alerts watch`, e.g. on
another machine, which is what notices a daemon that died with its process). Neither is
called by posting, and posting never waits for either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.alerts import detection, grouping, sending
from bot.pledges.mail import Mailer
from bot.runtime.wiring import Runtime
from bot.settings import Settings
from bot.storage.models import Campaign, utcnow
from bot.storage.vault import Vault

logger = logging.getLogger(__name__)

SEND_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class AlertPolicy:
    check_every: float = 10.0
    window: grouping.GroupWindow = field(
        default_factory=lambda: grouping.GroupWindow(
            quiet=timedelta(seconds=20), max_wait=timedelta(seconds=40)
        )
    )
    daemon_stale: timedelta = timedelta(minutes=2)
    approval_lead: timedelta = timedelta(hours=1)
    # Read back this far before the last scan: a transaction that began before it may
    # commit a row stamped earlier than the scan after the scan has run.
    lookback: timedelta = timedelta(minutes=10)
    send: sending.SendPolicy = field(default_factory=sending.SendPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertPolicy:
        return cls(
            check_every=settings.alerts_check_seconds,
            window=grouping.GroupWindow(
                quiet=timedelta(seconds=settings.alerts_group_quiet_seconds),
                max_wait=timedelta(seconds=settings.alerts_group_max_seconds),
            ),
            daemon_stale=timedelta(seconds=settings.alerts_daemon_stale_seconds),
            approval_lead=timedelta(minutes=settings.alerts_approval_lead_minutes),
        )


@dataclass
class CheckRound:
    events: int = 0
    alerts: list[int] = field(default_factory=list)


class Watcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        vault: Vault,
        mailer: Mailer,
        *,
        base_url: str,
        policy: AlertPolicy = AlertPolicy(),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.vault = vault
        self.base_url = base_url
        self.policy = policy
        self.clock = clock
        self.detectors = detection.detectors(
            heartbeat_stale=policy.daemon_stale, approval_lead=policy.approval_lead
        )
        self.sender = sending.Sender(sessions, vault, mailer, policy.send, clock=clock)

    def check(self) -> CheckRound:
        """Detect new events, then turn every ready group into an alert with its sends."""
        now = self.clock()
        result = CheckRound()
        with self.sessions() as session:
            result.events = detection.detect(session, self.detectors, now, self.policy.lookback)
            for kind, campaign_id, upto in grouping.ready_groups(session, now, self.policy.window):
                try:
                    alert = grouping.make_alert(
                        session, kind, campaign_id, upto=upto, now=now, base_url=self.base_url
                    )
                    if alert is None:
                        continue
                    sends = sending.plan(session, self.vault, alert, now)
                    session.commit()
                except Exception:
                    session.rollback()
                    logger.exception("could not group %s alerts; trying again next check", kind)
                    continue
                result.alerts.append(alert.id)
                logger.info("alert %s: %s (%s channel(s))", alert.id, alert.title, sends)
        return result

    def send(self) -> sending.SendRound:
        return self.sender.run()

    def test(self, campaign: Campaign) -> tuple[int, sending.SendRound]:
        """A test alert to every channel of ``campaign``, sent now; (alert id, outcome)."""
        now = self.clock()
        with self.sessions() as session:
            alert = grouping.test_alert(session, campaign, now, self.base_url)
            planned = sending.plan(session, self.vault, alert, now, every_channel=True)
            session.commit()
            alert_id = alert.id
        if not planned:
            return alert_id, sending.SendRound()
        return alert_id, self.sender.run(alert_id)


def watcher_for(runtime: Runtime) -> Watcher:
    s = runtime.settings
    return Watcher(
        runtime.sessions,
        runtime.vault,
        Mailer(s, timeout=sending.SendPolicy().timeout),
        base_url=s.web_base_url,
        policy=AlertPolicy.from_settings(s),
    )


def periodic(runtime: Runtime) -> list[tuple[str, Callable[[], object], float]]:
    """The daemon's alert jobs: (name, function, every seconds), each in its own thread."""
    watcher = watcher_for(runtime)
    return [
        ("alerts-check", watcher.check, watcher.policy.check_every),
        ("alerts-send", watcher.send, SEND_EVERY_SECONDS),
    ]
