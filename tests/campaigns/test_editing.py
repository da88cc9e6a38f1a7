"""Editing a pending post: the same checks as queueing it, all-or-nothing, and never a
change to a delivery the daemon has claimed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from bot.campaigns.editing import (
    Draft,
    PostExists,
    PostStarted,
    create_post,
    draft_of,
    edit_post,
    load_post,
    written_parts,
)
from bot.campaigns.specs import SpecError
from bot.storage.models import Delivery, DeliveryState, Post
from tests.support.factories import add_account, queue, spec


@pytest.fixture
def accounts(sessions, vault):
    return {
        "x": add_account(sessions, vault, "x", "union"),
        "facebook": add_account(sessions, vault, "facebook", "union-page"),
    }


def _draft(text: str = "Demo tomorrow at 8:30", **changes) -> Draft:
    base = Draft(
        parts={"x": (text,), "facebook": (text,)},
        scheduled_at=datetime.now(UTC) + timedelta(hours=2),
        timezone="Europe/London",
        targets=("x", "facebook"),
    )
    return replace(base, **changes)


def _created(sessions, draft: Draft | None = None, key: str = "demo-eve") -> int:
    with sessions() as s:
        post = create_post(
            s, "demo", key, draft or _draft(), actor="cli:test", now=datetime.now(UTC)
        )
        return post.id


def _edit(sessions, post_id: int, draft: Draft, now: datetime | None = None):
    with sessions() as s:
        post = s.get(Post, post_id)
        return edit_post(s, post, draft, actor="cli:test", now=now or datetime.now(UTC))


def _deliveries(sessions) -> list[Delivery]:
    with sessions() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def test_editing_a_pending_post_changes_its_text_time_and_targets_and_replans_its_deliveries(
    sessions, accounts
):
    post_id = _created(sessions)
    later = datetime.now(UTC) + timedelta(days=1)
    result = _edit(
        sessions,
        post_id,
        _draft("Demo moved to 9am", scheduled_at=later, targets=("x",)),
    )
    assert result.changed and result.before["parts"]["x"] == ["Demo tomorrow at 8:30"]
    assert result.after["parts"]["x"] == ["Demo moved to 9am"]
    rows = _deliveries(sessions)
    assert [(d.platform, d.due_at, d.state) for d in rows] == [("x", later, DeliveryState.PENDING)]
    assert [d.platform for d in result.post.deliveries] == ["x"]


def test_an_edit_that_changes_nothing_says_so(sessions, accounts):
    post_id = _created(sessions)
    with sessions() as s:
        draft = draft_of(s.get(Post, post_id))
    assert not _edit(sessions, post_id, draft).changed


def test_an_edit_is_checked_like_posts_add_and_nothing_is_stored_when_refused(sessions, accounts):
    post_id = _created(sessions)
    refused = _draft(
        "a" * 300,
        scheduled_at=datetime.now(UTC) - timedelta(hours=1),
        targets=("x", "facebook:@nobody"),
    )
    with pytest.raises(SpecError) as caught:
        _edit(sessions, post_id, refused)
    found = {(p.field, p.platform) for p in caught.value.problems}
    assert ("text", "x") in found and ("to", None) in found
    assert "by X's count" in str(caught.value) and "no facebook account @nobody" in str(
        caught.value
    )
    with sessions() as s:
        assert s.get(Post, post_id).parts["x"] == ["Demo tomorrow at 8:30"]
    assert sorted(d.platform for d in _deliveries(sessions)) == ["facebook", "x"]


def test_an_empty_text_and_a_past_time_are_refused_with_the_cli_words(sessions, accounts):
    post_id = _created(sessions)
    with pytest.raises(SpecError, match="is empty; write the text"):
        _edit(sessions, post_id, _draft("   "))
    with pytest.raises(SpecError, match="is in the past"):
        _edit(sessions, post_id, _draft(scheduled_at=datetime.now(UTC) - timedelta(minutes=5)))


def test_a_post_any_of_whose_deliveries_has_left_pending_cannot_be_edited(sessions, accounts):
    post_id = _created(sessions)
    with sessions() as s:
        s.execute(update(Delivery).where(Delivery.platform == "x").values(state=DeliveryState.SENT))
        s.commit()
    with pytest.raises(PostStarted, match=r"has started going out \(.*x: sent.*\)"):
        _edit(sessions, post_id, _draft("Too late to change"))
    with sessions() as s:
        assert s.get(Post, post_id).parts["x"] == ["Demo tomorrow at 8:30"]


def test_an_edit_never_changes_a_delivery_the_daemon_claims_while_it_is_made(sessions, accounts):
    """The daemon claims the X delivery after the edit has read the post and checked it,
    just before the edit writes: the conditional write sees it and nothing changes."""
    post_id = _created(sessions)
    original = {d.id: d.due_at for d in _deliveries(sessions)}
    x_id = next(d.id for d in _deliveries(sessions) if d.platform == "x")
    with sessions() as s:
        claimed = []

        @event.listens_for(s, "before_flush")
        def claim_now(session, context, instances) -> None:
            if claimed:
                return
            claimed.append(True)
            with sessions() as daemon:  # another connection, as the daemon's
                daemon.execute(
                    update(Delivery)
                    .where(Delivery.id == x_id, Delivery.state == DeliveryState.PENDING)
                    .values(state=DeliveryState.SENDING, claimed_by="daemon")
                )
                daemon.commit()

        post = s.get(Post, post_id)
        with pytest.raises(PostStarted, match="x: sending"):
            edit_post(
                s,
                post,
                _draft("Changed under the daemon", scheduled_at=datetime.now(UTC) + timedelta(1)),
                actor="cli:test",
                now=datetime.now(UTC),
            )
    assert claimed
    rows = {d.id: d for d in _deliveries(sessions)}
    assert {i: d.due_at for i, d in rows.items()} == original
    assert rows[x_id].state == DeliveryState.SENDING and rows[x_id].claimed_by == "daemon"
    with sessions() as s:
        assert s.get(Post, post_id).parts["x"] == ["Demo tomorrow at 8:30"]


def test_changing_the_link_does_not_leave_the_old_one_in_the_x_text(sessions, accounts):
    post_id = _created(sessions, _draft(link="https://union.example.org/old"))
    with sessions() as s:
        post = s.get(Post, post_id)
        assert post.parts["x"] == ["Demo tomorrow at 8:30\nhttps://union.example.org/old"]
        assert written_parts(post)["x"] == ("Demo tomorrow at 8:30",)
        draft = draft_of(post)
    _edit(sessions, post_id, replace(draft, link="https://union.example.org/new"))
    with sessions() as s:
        assert s.get(Post, post_id).parts["x"] == [
            "Demo tomorrow at 8:30\nhttps://union.example.org/new"
        ]


def test_a_thread_becomes_one_post_and_back(sessions, accounts):
    post_id = _created(sessions, _draft(parts={"x": ("1/ Ballot", "2/ Result")}, targets=("x",)))
    with sessions() as s:
        assert s.get(Post, post_id).kind == "thread"
    result = _edit(sessions, post_id, _draft("One post now", targets=("x",)))
    assert result.post.kind == "post" and result.post.parts["x"] == ["One post now"]


def test_editing_a_post_from_a_schedule_file_says_the_file_would_put_it_back(sessions, accounts):
    queue(sessions, replace(spec(key="from-file"), source=spec().source.__class__("demo.yaml", 4)))
    with sessions() as s:
        post = load_post(s, "demo/from-file")
        assert post is not None and post.source == "demo.yaml:4"
        post_id = post.id
        draft = draft_of(post)
    result = _edit(sessions, post_id, replace(draft, parts={"x": ("Edited by hand",)}))
    assert result.note is not None and "demo.yaml:4" in result.note
    assert result.post.source == "demo.yaml:4"


def test_creating_a_post_twice_with_one_key_is_refused(sessions, accounts):
    _created(sessions)
    with pytest.raises(PostExists, match="demo/demo-eve already exists"):
        _created(sessions)
