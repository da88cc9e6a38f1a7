"""The "needs attention" box: failed and missed deliveries, accounts to reconnect, and a
scheduler that is not ticking, each with its action."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from bot.console.roles import Role
from bot.delivery import heartbeat
from bot.storage.models import Account, AccountStatus, DaemonHeartbeat, Delivery, DeliveryState
from tests.support.console_posts import campaign_accounts, queued
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform


def _beat(console, ago: timedelta) -> None:
    with console.sessions() as session:
        session.add(
            DaemonHeartbeat(
                holder="host:1", started_at=console.clock.now - ago, beat_at=console.clock.now - ago
            )
        )
        session.commit()


def test_no_heartbeat_at_all_says_the_scheduler_is_not_running_and_how_to_start_it(console):
    page = console.client(Role.VIEWER).get("/console/").text
    assert "Needs attention" in page
    assert "Clarion&#39;s scheduler is not running" in page
    assert 'href="/console/help/scheduler">How to start it' in page
    help_page = console.client(Role.VIEWER).get("/console/help/scheduler").text
    assert "make run" in help_page


def test_an_old_heartbeat_says_for_how_long_the_scheduler_has_not_ticked(console):
    _beat(console, timedelta(minutes=7))
    page = console.client(Role.VIEWER).get("/console/").text
    assert "Clarion&#39;s scheduler has not ticked for 7 min" in page


def test_a_scheduler_stopped_cleanly_says_when_at_once(console):
    _beat(console, timedelta(seconds=20))
    with console.sessions() as session:
        session.execute(
            update(DaemonHeartbeat).values(stopped_at=console.clock.now - timedelta(seconds=10))
        )
        session.commit()
    page = console.client(Role.VIEWER).get("/console/").text
    stopped = console.clock.now - timedelta(seconds=10)
    assert f"Clarion&#39;s scheduler was stopped at {stopped:%Y-%m-%d %H:%M} UTC" in page
    assert 'href="/console/help/scheduler">How to start it' in page


def test_a_fresh_heartbeat_and_nothing_wrong_shows_no_box(console):
    _beat(console, timedelta(seconds=30))
    assert "Needs attention" not in console.client(Role.VIEWER).get("/console/").text


def test_failed_and_missed_deliveries_and_accounts_to_reconnect_are_listed_with_links(console):
    _beat(console, timedelta(seconds=5))
    add_account(console.sessions, console.runtime.vault, "x", "UniteRankFile")
    queue(console.sessions, spec(to=("x",)), spec(to=("x",)), spec(to=("x",)))
    with console.sessions() as session:
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:2]))
            .values(state=DeliveryState.FAILED, due_at=console.clock.now)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.id == ids[2])
            .values(state=DeliveryState.MISSED, due_at=console.clock.now)
        )
        session.execute(update(Account).values(status=AccountStatus.NEEDS_RECONNECT))
        session.commit()
    page = console.client(Role.VIEWER).get("/console/").text
    assert "2 deliveries failed in the last 7 days" in page
    assert 'href="/console/posts?state=failed"' in page
    assert "1 delivery missed in the last 7 days" in page
    assert "@UniteRankFile needs reconnecting" in page
    assert 'href="/console/accounts">Reconnect on the accounts page' in page


def test_the_daemon_writes_its_heartbeat_while_it_polls(sessions, daemons):
    daemons(FakePlatform())
    deadline = time.monotonic() + 10
    beat = None
    while time.monotonic() < deadline and beat is None:
        with sessions() as session:
            beat = heartbeat.latest(session)
        time.sleep(0.1)
    assert beat is not None


def test_a_heartbeat_is_written_at_most_every_15_seconds(sessions, console_clock):
    now = console_clock.now
    assert heartbeat.beat(sessions, "host:1", now)
    assert not heartbeat.beat(sessions, "host:1", now + timedelta(seconds=10))
    assert heartbeat.beat(sessions, "host:1", now + timedelta(seconds=16))
    with sessions() as session:
        assert heartbeat.latest(session) == now + timedelta(seconds=16)
        assert len(session.scalars(select(DaemonHeartbeat)).all()) == 1


def test_a_new_daemon_forgets_heartbeats_of_daemons_gone_for_a_day(sessions, console_clock):
    now = console_clock.now
    heartbeat.beat(sessions, "host:1", now - timedelta(days=2))
    heartbeat.beat(sessions, "host:2", now - timedelta(hours=1))
    heartbeat.beat(sessions, "host:3", now)
    with sessions() as session:
        holders = sorted(session.scalars(select(DaemonHeartbeat.holder)))
    assert holders == ["host:2", "host:3"]


def test_the_failed_deliveries_link_finds_a_post_that_went_out_on_one_platform_only(console):
    campaign_accounts(console)
    post_id = queued(console, "Demo at 8:30")
    with console.sessions() as session:
        session.execute(
            update(Delivery).where(Delivery.platform == "x").values(state=DeliveryState.SENT)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.platform == "facebook")
            .values(state=DeliveryState.FAILED, error="token rejected (code 190)")
        )
        session.commit()
    viewer = console.client(Role.VIEWER)
    assert "1 delivery failed in the last 7 days" in viewer.get("/console/").text
    listed = viewer.get("/console/posts?state=failed").text
    assert f'href="/console/posts/{post_id}"' in listed
