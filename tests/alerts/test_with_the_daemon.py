"""The watcher beside a running daemon: a failed post reaches a person, and a webhook
that hangs or refuses never slows posting."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.alerts import inbox
from bot.alerts.events import SendState
from bot.alerts.grouping import GroupWindow
from bot.alerts.sending import SendPolicy
from bot.alerts.watcher import AlertPolicy
from bot.platforms.base import PermanentError
from bot.storage.models import Delivery, DeliveryState
from tests.support.alerting import free_port
from tests.support.alerts_harness import Alerting
from tests.support.factories import queue, spec
from tests.support.fakes import FakePlatform

# Sent at once (no grouping wait), and a webhook attempt may hang for a whole second.
AT_ONCE = AlertPolicy(
    check_every=0.2,
    window=GroupWindow(quiet=timedelta(0), max_wait=timedelta(0)),
    send=SendPolicy(timeout=1.0, backoff=(0.5, 0.5), stale_after=60.0),
)


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def run_daemon(alerting: Alerting, daemons, x: FakePlatform):  # type: ignore[no-untyped-def]
    watcher = alerting.watcher(AT_ONCE, clock=lambda: datetime.now(UTC))
    return daemons(
        x,
        periodic=[("alerts-check", watcher.check, 0.2), ("alerts-send", watcher.send, 0.2)],
    )


def test_a_post_the_platform_refuses_raises_exactly_one_email_and_one_webhook_call(
    alerting, daemons
):
    alerting.prepare()
    x = FakePlatform("x")
    x.fail_next(PermanentError("duplicate content"))
    run_daemon(alerting, daemons, x)
    queue(
        alerting.sessions, spec("Strike vote tonight", at=datetime.now(UTC) + timedelta(seconds=1))
    )

    wait_for(lambda: alerting.receiver.calls and alerting.smtp.messages)
    time.sleep(1.0)  # a few more rounds: nothing else arrives
    assert len(alerting.receiver.calls) == 1 and len(alerting.smtp.messages) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["title"] == "1 post failed on X for Fujitsu strike: refused by the platform"


@pytest.mark.parametrize("down", ["hang", "refused"])
def test_a_receiver_that_is_down_does_not_slow_posting_and_the_inbox_shows_it_undelivered(
    alerting, daemons, receiver, down
):
    alerting.prepare()
    if down == "hang":
        receiver.mode = "hang"
    else:
        receiver.port = free_port()  # nothing listens there: connection refused
        alerting.configure()
    x = FakePlatform("x")
    x.fail_next(PermanentError("duplicate content"))
    run_daemon(alerting, daemons, x)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    # The first fails and raises an alert; the next five fall due while its webhook is down.
    queue(
        alerting.sessions, *(spec(f"Picket {i}", at=start + timedelta(seconds=i)) for i in range(6))
    )

    def finished() -> bool:
        with alerting.sessions() as session:
            states = list(session.scalars(select(Delivery.state)))
        return len(states) == 6 and all(s in DeliveryState.FINAL for s in states)

    wait_for(finished)
    with alerting.sessions() as session:
        late = [
            (d.sent_at - d.due_at).total_seconds()
            for d in session.scalars(select(Delivery).where(Delivery.state == DeliveryState.SENT))
        ]
    assert len(late) == 5
    assert max(late) < 0.8, f"posts went out late while the webhook was down: {late}"
    if down == "hang":
        assert receiver.calls, "the webhook was never tried"

    def undelivered() -> bool:
        with alerting.sessions() as session:
            items = inbox.recent(session)
        return bool(items) and items[0].undelivered

    wait_for(undelivered)
    with alerting.sessions() as session:
        (item,) = inbox.recent(session)
    by_channel = {s.channel: s for s in item.sends}
    assert by_channel["email"].state is SendState.SENT
    assert by_channel["webhook"].state is SendState.UNDELIVERED
    assert by_channel["webhook"].attempts == 3
