"""Queueing: all-or-nothing, idempotent by key, never touching what has started."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.campaigns.enqueue import cancel_post, find_post
from bot.campaigns.specs import SpecError
from bot.storage.models import Delivery, DeliveryState, Post
from tests.support.factories import add_account, queue, spec


@pytest.fixture
def accounts(sessions, vault):
    return {
        "x": add_account(sessions, vault, "x", "union"),
        "facebook": add_account(sessions, vault, "facebook", "union-page"),
    }


def deliveries(sessions):
    with sessions() as s:
        return s.scalars(select(Delivery).order_by(Delivery.id)).all()


def test_it_stores_one_delivery_per_target_account(sessions, accounts):
    report = queue(sessions, spec(to=("x", "facebook"), key="demo-eve"))
    assert report.created == ["demo/demo-eve"]
    rows = deliveries(sessions)
    assert sorted(d.platform for d in rows) == ["facebook", "x"]
    assert all(d.state == DeliveryState.PENDING for d in rows)


def test_reapplying_the_same_spec_changes_nothing(sessions, accounts):
    post = spec(to=("x", "facebook"), key="same")
    queue(sessions, post)
    report = queue(sessions, post)
    assert report.unchanged == ["demo/same"] and report.changed == 0
    assert len(deliveries(sessions)) == 2


def test_reapplying_an_edited_pending_post_updates_it_in_place(sessions, accounts):
    at = datetime.now(UTC) + timedelta(hours=1)
    queue(sessions, spec("First wording", key="k", at=at))
    report = queue(sessions, spec("Better wording", key="k", at=at + timedelta(minutes=30)))
    assert report.updated == ["demo/k"]
    with sessions() as s:
        posts = s.scalars(select(Post)).all()
        assert len(posts) == 1 and posts[0].parts["x"] == ["Better wording"]
    assert [d.due_at for d in deliveries(sessions)] == [at + timedelta(minutes=30)]


def test_it_never_changes_a_post_that_has_started_going_out(sessions, accounts):
    queue(sessions, spec("Original", key="k"))
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENT))
        s.commit()
    report = queue(sessions, spec("Edited after sending", key="k"))
    assert report.kept == ["demo/k"]
    assert "not applied" in report.notes[0]
    with sessions() as s:
        assert s.scalars(select(Post)).one().parts["x"] == ["Original"]


def test_removing_a_target_on_reapply_drops_its_pending_delivery(sessions, accounts):
    queue(sessions, spec(key="k", to=("x", "facebook")))
    queue(sessions, spec(key="k", to=("x",)))
    assert [d.platform for d in deliveries(sessions)] == ["x"]


def test_an_unknown_account_refuses_the_whole_batch(sessions, accounts):
    with pytest.raises(SpecError) as caught:
        queue(sessions, spec(key="good"), spec(key="bad", to=("x:@nobody",)))
    assert "no x account @nobody" in str(caught.value)
    assert deliveries(sessions) == []


def test_a_platform_without_an_account_says_how_to_connect_one(sessions, vault):
    add_account(sessions, vault, "x", "union")
    with pytest.raises(SpecError, match="accounts connect facebook"):
        queue(sessions, spec(to=("facebook",)))


def test_every_problem_is_reported_at_once(sessions, accounts):
    past = datetime.now(UTC) - timedelta(hours=1)
    with pytest.raises(SpecError) as caught:
        queue(
            sessions,
            spec("", key="empty"),
            spec(key="late", at=past),
            spec(key="where", to=("myspace",)),
        )
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["at", "text", "to"]


def test_a_time_in_the_past_is_refused_unless_asked_to_post_now(sessions, accounts):
    now = datetime.now(UTC)
    late = spec(key="late", at=now - timedelta(minutes=3))
    with pytest.raises(SpecError, match="in the past"):
        queue(sessions, late, now=now)
    queue(sessions, late, now=now, allow_past=True)
    assert [d.due_at for d in deliveries(sessions)] == [now]


def test_reminders_already_past_are_skipped_with_a_note(sessions, accounts):
    now = datetime.now(UTC)
    report = queue(
        sessions,
        spec(key="ev@-7d", kind="reminder", at=now - timedelta(days=1)),
        spec(key="ev@-1d", kind="reminder", at=now + timedelta(days=1)),
        now=now,
    )
    assert report.skipped == ["demo/ev@-7d"] and report.created == ["demo/ev@-1d"]


def test_the_link_counts_in_the_x_length(sessions, accounts):
    text = "a" * 260  # fits alone; with a link (23 + newline) it does not
    queue(sessions, spec(text, key="fits"))
    with pytest.raises(SpecError, match="by X's count"):
        queue(sessions, spec(text, key="too-long", link="https://example.org/petition"))


def test_holding_on_facebook_hands_the_post_over_at_once(sessions, accounts):
    now = datetime.now(UTC)
    at = now + timedelta(hours=2)
    queue(sessions, spec(key="held", to=("facebook",), at=at, hold_on_facebook=True), now=now)
    assert [d.due_at for d in deliveries(sessions)] == [now]


def test_facebook_only_holds_posts_ten_minutes_to_thirty_days_ahead(sessions, accounts):
    soon = datetime.now(UTC) + timedelta(minutes=3)
    with pytest.raises(SpecError, match="10 minutes to 30 days"):
        queue(sessions, spec(to=("facebook",), at=soon, hold_on_facebook=True))


def test_cancel_stops_pending_deliveries_and_reports_ones_already_out(sessions, accounts):
    queue(sessions, spec(key="k", to=("x", "facebook")))
    with sessions() as s:
        s.execute(update(Delivery).where(Delivery.platform == "x").values(state=DeliveryState.SENT))
        s.commit()
        result = cancel_post(s, find_post(s, "demo/k"))
    assert (result.cancelled, result.already_out) == (1, 1)
    states = {d.platform: d.state for d in deliveries(sessions)}
    assert states == {"x": DeliveryState.SENT, "facebook": DeliveryState.CANCELLED}


def test_a_post_is_found_by_id_or_by_campaign_and_key(sessions, accounts):
    queue(sessions, spec(key="findme"))
    with sessions() as s:
        post = find_post(s, "demo/findme")
        assert post is not None and find_post(s, str(post.id)) is post
        assert find_post(s, "demo/nothing") is None
