"""The watcher end to end: events detected once, grouped, emailed and posted (signed) to a
local SMTP server and webhook receiver, retried, and never resent after a restart."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from bot.alerts import inbox
from bot.alerts.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from bot.alerts.events import AlertKind, SendState, WebhookFormat
from bot.runtime.logs import configure_logging
from bot.storage.models import (
    Account,
    AccountStatus,
    Alert,
    AlertChannels,
    AlertSend,
    DaemonHeartbeat,
    Delivery,
    DeliveryState,
    PledgeCampaign,
    PledgeCampaignState,
    Post,
    PostState,
)
from tests.support.alerting import HOOK_TOKEN, SECRET
from tests.support.alerts_harness import Alerting
from tests.support.factories import queue, spec


def settle(alerting: Alerting, watcher, seconds: float = 21) -> None:  # type: ignore[no-untyped-def]
    """Let the group go quiet, fold it into an alert and send it."""
    watcher.check()
    alerting.clock.advance(seconds)
    watcher.check()
    watcher.send()


def test_a_failed_post_raises_one_email_and_one_webhook_call_with_a_valid_signature(alerting):
    watcher = alerting.start()
    alerting.fail(1)

    settle(alerting, watcher)

    assert len(alerting.smtp.messages) == 1
    recipients, mail = alerting.smtp.messages[0]
    assert recipients == ["organiser@example.org"]
    assert mail["Subject"] == "[Clarion] 1 post failed on X for Fujitsu strike: token rejected"
    assert "“Strike vote 0” on X @union" in mail.get_payload(decode=True).decode()
    assert len(alerting.receiver.calls) == 1
    headers, body = alerting.receiver.calls[0]
    assert verify(
        SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=time.time()
    )
    assert not verify(
        "another-secret-entirely",
        headers[TIMESTAMP_HEADER],
        body,
        headers[SIGNATURE_HEADER],
        now=time.time(),
    )
    payload = json.loads(body)
    assert payload["kind"] == "delivery_failed" and payload["count"] == 1
    assert payload["campaign"] == {"slug": "demo", "title": "Fujitsu strike"}
    assert payload["link"].startswith("http://127.0.0.1:8080/console/alerts/")


def test_nothing_is_sent_until_the_group_has_been_quiet(alerting):
    watcher = alerting.start()
    alerting.fail(1)
    watcher.check()
    alerting.clock.advance(5)
    watcher.check()
    watcher.send()
    assert alerting.smtp.messages == [] and alerting.receiver.calls == []


def test_three_hundred_failures_in_one_go_make_one_grouped_message(alerting):
    watcher = alerting.start()
    alerting.fail(300)

    settle(alerting, watcher)

    assert len(alerting.smtp.messages) == 1 and len(alerting.receiver.calls) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["count"] == 300
    assert payload["title"] == "300 posts failed on X for Fujitsu strike: token rejected"
    assert payload["text"].startswith(payload["title"] + " (first: “Strike vote 0”")
    assert "…and 290 more" in payload["text"]
    with alerting.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_a_burst_that_goes_on_is_cut_at_the_longest_wait(alerting):
    watcher = alerting.start()
    for _ in range(5):  # a failure every 10 s: never quiet for 20 s
        alerting.fail(1)
        watcher.check()
        alerting.clock.advance(10)
    watcher.check()
    watcher.send()
    with alerting.sessions() as session:
        counts = list(session.scalars(select(Alert.count)))
    assert counts == [5] and len(alerting.receiver.calls) == 1


def test_a_restart_does_not_resend(alerting):
    watcher = alerting.start()
    alerting.fail(2)
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 1

    again = alerting.watcher()  # a new process: only the database remembers
    alerting.clock.advance(60)
    again.check()
    alerting.clock.advance(60)
    again.check()
    again.send()

    assert len(alerting.receiver.calls) == 1 and len(alerting.smtp.messages) == 1


def test_what_failed_before_alerts_were_first_watched_is_not_reported(alerting):
    alerting.prepare()
    alerting.clock.advance(-60)
    alerting.fail(3)
    alerting.clock.advance(60)
    watcher = alerting.watcher()
    settle(alerting, watcher)
    settle(alerting, watcher)
    assert alerting.receiver.calls == []


def test_a_missed_delivery_raises_one_alert(alerting):
    watcher = alerting.start()
    alerting.fail(1, kind="missed", state=DeliveryState.MISSED)
    settle(alerting, watcher)
    settle(alerting, watcher)
    payload = json.loads(alerting.receiver.calls[0][1])
    assert len(alerting.receiver.calls) == 1
    assert payload["kind"] == "delivery_missed"
    assert payload["title"] == "1 post was missed on X for Fujitsu strike: not sent in time"


def test_an_account_needing_reconnect_raises_one_alert_per_episode(alerting):
    watcher = alerting.start()

    def set_status(status: str) -> None:
        with alerting.sessions() as session:
            session.execute(
                update(Account).values(
                    status=status, status_reason="X said 401", updated_at=alerting.clock()
                )
            )
            session.commit()

    set_status(AccountStatus.NEEDS_RECONNECT)
    settle(alerting, watcher)
    alerting.clock.advance(5)
    with alerting.sessions() as session:  # touched again while still broken: no new alert
        session.execute(update(Account).values(followers=12, updated_at=alerting.clock()))
        session.commit()
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["kind"] == "account_needs_reconnect"
    assert payload["title"] == "1 account needs reconnecting on X"
    assert "X @union: X said 401" in payload["text"]

    set_status(AccountStatus.ACTIVE)
    settle(alerting, watcher)
    alerting.clock.advance(5)
    set_status(AccountStatus.NEEDS_RECONNECT)
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 2


def test_a_stopped_daemon_raises_one_alert(alerting):
    watcher = alerting.start()
    with alerting.sessions() as session:
        beat = alerting.clock() - timedelta(seconds=30)
        session.add(DaemonHeartbeat(holder="host:1", started_at=beat, beat_at=beat))
        session.commit()
    settle(alerting, watcher)
    assert alerting.receiver.calls == []  # 30 s + 21 s: still within two minutes

    alerting.clock.advance(120)
    settle(alerting, watcher)
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["kind"] == "daemon_stopped" and payload["campaign"] is None
    assert payload["title"] == "The Clarion daemon has stopped: nothing is being posted"


def test_schedulers_gone_silent_raise_the_alert_though_workers_still_beat(alerting):
    # Scaled out: every scheduler died, the workers go on beating, and nothing plans posts.
    watcher = alerting.start()
    with alerting.sessions() as session:
        old = alerting.clock() - timedelta(minutes=5)
        session.add(DaemonHeartbeat(holder="scheduler host-a:1", started_at=old, beat_at=old))
        fresh = alerting.clock() - timedelta(seconds=5)
        session.add(DaemonHeartbeat(holder="worker host-b:2", started_at=fresh, beat_at=fresh))
        session.commit()
    settle(alerting, watcher)
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["kind"] == "daemon_stopped"
    assert "scheduler host-a:1" in payload["text"], payload


def test_a_finished_release_raises_one_alert(alerting):
    watcher = alerting.start()
    with alerting.sessions() as session:
        campaign_id = session.scalar(select(AlertChannels.campaign_id))
        session.add(
            PledgeCampaign(
                campaign_id=campaign_id,
                message={"x": "Stand with the Fujitsu strikers"},
                goal=10,
                release_at=alerting.clock(),
                timezone="Europe/London",
                state=PledgeCampaignState.RELEASED,
                updated_at=alerting.clock(),
            )
        )
        session.commit()
    settle(alerting, watcher)
    settle(alerting, watcher)
    assert len(alerting.receiver.calls) == 1
    payload = json.loads(alerting.receiver.calls[0][1])
    assert payload["kind"] == "release_finished"
    assert (
        payload["title"]
        == "The pledge release for Fujitsu strike has finished: 0 of 0 posts went out"
    )


def test_a_campaign_that_did_not_choose_a_kind_is_not_told_of_it(alerting):
    watcher = alerting.start(events=(AlertKind.DELIVERY_MISSED,))
    alerting.fail(1)
    settle(alerting, watcher)
    assert alerting.receiver.calls == [] and alerting.smtp.messages == []
    with alerting.sessions() as session:  # the inbox still has it
        assert [i.title for i in inbox.recent(session)] == [
            "1 post failed on X for Fujitsu strike: token rejected"
        ]


def test_a_refusing_receiver_is_retried_then_marked_undelivered_in_the_inbox(alerting):
    watcher = alerting.start()
    alerting.receiver.mode = 503
    alerting.fail(1)
    settle(alerting, watcher)
    for _ in range(3):
        alerting.clock.advance(2)
        watcher.send()
    assert len(alerting.receiver.calls) == 3  # the first try and two retries
    with alerting.sessions() as session:
        (item,) = inbox.recent(session)
    states = {s.channel: (s.state, s.last_error) for s in item.sends}
    assert states["email"][0] is SendState.SENT
    assert states["webhook"] == (
        SendState.UNDELIVERED,
        "the webhook answered HTTP 503",
    )


def test_a_webhook_gone_for_good_is_not_retried(alerting):
    watcher = alerting.start()
    alerting.receiver.mode = 404
    alerting.fail(1)
    settle(alerting, watcher)
    alerting.clock.advance(5)
    watcher.send()
    assert len(alerting.receiver.calls) == 1
    with alerting.sessions() as session:
        state = session.scalar(select(AlertSend.state).where(AlertSend.channel == "webhook"))
    assert state == SendState.UNDELIVERED


def test_a_hanging_receiver_costs_one_short_timeout_and_the_email_still_goes(alerting):
    watcher = alerting.start()
    alerting.receiver.mode = "hang"
    alerting.fail(1)
    watcher.check()
    alerting.clock.advance(21)
    watcher.check()
    started = time.monotonic()
    outcome = watcher.send()
    took = time.monotonic() - started
    assert took < 2.0  # the policy's 0.5 s timeout, not the receiver's 30 s
    assert outcome.sent == 1 and outcome.retrying == 1
    assert len(alerting.smtp.messages) == 1


def test_the_webhook_secret_and_url_never_appear_in_logs_or_the_inbox(alerting, caplog):
    configure_logging("debug")  # as `run` sets it up, at its most talkative
    caplog.set_level(logging.DEBUG)
    watcher = alerting.start()
    alerting.receiver.mode = 500
    alerting.fail(1)
    settle(alerting, watcher)
    for _ in range(3):
        alerting.clock.advance(2)
        watcher.send()
    with alerting.sessions() as session:
        shown = json.dumps([i.as_dict() for i in inbox.recent(session)], default=str)
        stored = session.scalars(select(AlertChannels)).one()
        stored_text = stored.webhook_url + stored.webhook_secret
    for secret in (SECRET, HOOK_TOKEN):
        assert secret not in caplog.text
        assert secret not in shown
        assert secret not in stored_text  # sealed by the vault
    assert "127.0.0.1" in shown


@pytest.mark.parametrize("fmt", [WebhookFormat.SLACK, WebhookFormat.DISCORD, WebhookFormat.MATRIX])
def test_chat_formats_reach_the_receiver_in_their_shape(alerting, fmt):
    watcher = alerting.start(fmt=fmt)
    alerting.fail(1)
    settle(alerting, watcher)
    payload = json.loads(alerting.receiver.calls[0][1])
    key = {"slack": "text", "discord": "content", "matrix": "text"}[fmt.value]
    assert payload[key].startswith("1 post failed on X for Fujitsu strike: token rejected")


def test_two_watchers_at_once_send_each_alert_once(alerting):
    first = alerting.start()
    second = alerting.watcher()
    alerting.fail(3)
    first.check()
    second.check()
    alerting.clock.advance(21)
    first.check()
    second.check()
    first.send()
    second.send()
    assert len(alerting.receiver.calls) == 1 and len(alerting.smtp.messages) == 1
    with alerting.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 3
        assert session.scalar(select(Alert.count)) == 3


def test_a_send_whose_sender_died_mid_call_is_tried_again_after_the_stale_time(alerting):
    watcher = alerting.start()
    alerting.fail(1)
    watcher.check()
    alerting.clock.advance(21)
    watcher.check()
    with alerting.sessions() as session:  # claimed by a sender that then died
        session.execute(
            update(AlertSend).values(state=SendState.SENDING.value, claimed_at=alerting.clock())
        )
        session.commit()
    watcher.send()
    assert alerting.receiver.calls == []  # a live sender may still be on it
    alerting.clock.advance(61)
    watcher.send()
    assert len(alerting.receiver.calls) == 1 and len(alerting.smtp.messages) == 1


def test_a_post_awaiting_approval_near_its_time_raises_one_alert_without_its_text(alerting):
    watcher = alerting.start()
    soon, later = alerting.clock() + timedelta(minutes=30), alerting.clock() + timedelta(hours=3)
    queue(
        alerting.sessions,
        spec("Ballot result: 87% yes", at=soon, requires_approval=True, embargoed=True),
        spec("Not due for hours", at=later, requires_approval=True),
    )
    with alerting.sessions() as session:
        states = set(session.scalars(select(Post.state)).all())
    assert states == {PostState.AWAITING_APPROVAL}
    settle(alerting, watcher)
    settle(alerting, watcher)  # still waiting a round later: no second alert
    assert len(alerting.receiver.calls) == 1
    body = alerting.receiver.calls[0][1]
    payload = json.loads(body)
    assert payload["kind"] == "approval_waiting"
    assert payload["title"] == "1 post waits for approval for Fujitsu strike and is due soon"
    assert "87%" not in json.dumps(payload)  # an embargoed statement never reaches a mailbox


def test_a_campaign_s_inbox_also_shows_alerts_for_every_campaign(alerting):
    watcher = alerting.start()
    with alerting.sessions() as session:
        beat = alerting.clock() - timedelta(minutes=5)
        session.add(DaemonHeartbeat(holder="host:1", started_at=beat, beat_at=beat))
        session.commit()
    settle(alerting, watcher)
    settle(alerting, watcher)
    with alerting.sessions() as session:
        shown = [i.kind for i in inbox.recent(session, campaign="demo")]
        other = [i.kind for i in inbox.recent(session, campaign="another")]
    assert shown == other == ["daemon_stopped"]


def test_a_missed_unapproved_embargoed_statement_is_alerted_without_its_words(alerting):
    watcher = alerting.start()
    queue(
        alerting.sessions,
        spec("Ballot result: 87% yes", to=("x",), requires_approval=True, embargoed=True),
    )
    with alerting.sessions() as session:
        session.execute(
            update(Delivery).values(
                state=DeliveryState.MISSED, error_kind="missed", updated_at=alerting.clock()
            )
        )
        session.commit()
    settle(alerting, watcher)
    settle(alerting, watcher)
    kinds = [json.loads(body)["kind"] for _, body in alerting.receiver.calls]
    assert "delivery_missed" in kinds
    sent = "".join(body.decode() for _, body in alerting.receiver.calls)
    sent += "".join(str(mail) for _, mail in alerting.smtp.messages)
    assert "87%" not in sent and "Embargoed statement" in sent
    with alerting.sessions() as session:
        assert all("87%" not in i.text for i in inbox.recent(session, campaign="demo"))
