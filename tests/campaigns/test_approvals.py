"""Two-person approval: not due until someone other than the author approves; an edit
takes the approval back; unapproved at its time it is missed, reported, never sent."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.campaigns import approvals
from bot.campaigns.approvals import ApprovalRefused, Change
from bot.campaigns.editing import Draft, create_post, edit_post, load_post
from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.storage.lock import DaemonLock
from bot.storage.models import AuditEntry, Delivery, DeliveryState, Post, PostState
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform
from tests.support.waiting import wait_for

GRACE = timedelta(minutes=15)


@pytest.fixture
def account(sessions, vault):
    return add_account(sessions, vault, "x", "union")


def _draft(text: str = "Ballot result: 92% yes", **changes) -> Draft:
    base = Draft(
        parts={"x": (text,)},
        scheduled_at=datetime.now(UTC) + timedelta(hours=1),
        timezone="Europe/London",
        targets=("x",),
        requires_approval=True,
    )
    return replace(base, **changes)


def _create(sessions, draft: Draft | None = None, actor: str = "ed@union.example") -> int:
    with sessions() as s:
        return create_post(
            s, "ballot", "result", draft or _draft(), actor=actor, now=datetime.now(UTC)
        ).id


def _approve(sessions, post_id: int, actor: str, now: datetime | None = None) -> None:
    with sessions() as s:
        post = load_post(s, str(post_id))
        assert post is not None
        approvals.approve(s, post, actor=actor, now=now or datetime.now(UTC), grace=GRACE)


def _state(sessions, post_id: int) -> str:
    with sessions() as s:
        return s.get(Post, post_id).state


def _claimable(sessions, until: datetime) -> list[int]:
    return [i for i, _ in Sweeps(sessions, "probe").due(until)]


def _actions(sessions) -> list[tuple[str, str]]:
    with sessions() as s:
        return [(e.action, e.actor) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_a_post_that_requires_approval_is_not_due_until_a_second_person_approves_it(
    sessions, account
):
    post_id = _create(sessions)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert _state(sessions, post_id) == PostState.AWAITING_APPROVAL
    assert _claimable(sessions, later) == []
    assert Ledger(sessions, "w").claim_due(later, 10) == []

    _approve(sessions, post_id, "approver@union.example")

    assert _state(sessions, post_id) == PostState.SCHEDULED
    assert len(_claimable(sessions, later)) == 1
    assert ("post.submit", "ed@union.example") in _actions(sessions)
    assert ("post.approve", "approver@union.example") in _actions(sessions)


def test_the_one_at_a_time_claim_skips_a_post_waiting_for_approval(sessions, vault, account):
    post_id = _create(sessions)
    with sessions() as s:
        delivery_id = s.scalars(select(Delivery.id).where(Delivery.post_id == post_id)).one()
    later = datetime.now(UTC) + timedelta(hours=2)
    assert Ledger(sessions, "w").claim(delivery_id, later) is None


def test_its_author_cannot_approve_it(sessions, account):
    post_id = _create(sessions, actor="cli:alice")
    with pytest.raises(ApprovalRefused, match="its author cannot approve it"):
        _approve(sessions, post_id, "cli:alice")
    assert _state(sessions, post_id) == PostState.AWAITING_APPROVAL
    _approve(sessions, post_id, "cli:bob")  # another OS user is another person
    assert _state(sessions, post_id) == PostState.SCHEDULED


def test_an_edit_after_approval_withdraws_the_approval(sessions, account):
    post_id = _create(sessions)
    _approve(sessions, post_id, "approver@union.example")
    with sessions() as s:
        post = s.get(Post, post_id)
        edit_post(
            s,
            post,
            _draft("Ballot result: 93% yes"),
            actor="ed@union.example",
            now=datetime.now(UTC),
        )
    assert _state(sessions, post_id) == PostState.AWAITING_APPROVAL
    assert _claimable(sessions, datetime.now(UTC) + timedelta(hours=2)) == []
    assert _actions(sessions)[-2:] == [
        ("post.approval_withdrawn", "ed@union.example"),
        ("post.edit", "ed@union.example"),
    ]


def test_a_rejection_needs_a_reason_and_an_edit_resubmits_the_post(sessions, account):
    post_id = _create(sessions)
    with sessions() as s:
        post = load_post(s, str(post_id))
        with pytest.raises(ApprovalRefused, match="say why"):
            approvals.reject(s, post, actor="approver@union.example", reason="  ")
        approvals.reject(s, post, actor="approver@union.example", reason="Wrong figure")
    assert _state(sessions, post_id) == PostState.REJECTED
    assert _claimable(sessions, datetime.now(UTC) + timedelta(hours=2)) == []
    with sessions() as s:
        post = s.get(Post, post_id)
        edit_post(
            s, post, _draft("Ballot: 91% yes"), actor="ed@union.example", now=datetime.now(UTC)
        )
    assert _state(sessions, post_id) == PostState.AWAITING_APPROVAL
    assert [a for a, _ in _actions(sessions)][-3:] == ["post.reject", "post.submit", "post.edit"]


def test_an_approval_of_a_version_since_changed_is_refused(sessions, account):
    post_id = _create(sessions)
    with sessions() as s:
        seen = approvals.version_of(s.get(Post, post_id))
        edit_post(
            s,
            s.get(Post, post_id),
            _draft("Changed"),
            actor="ed@union.example",
            now=datetime.now(UTC),
        )
    with sessions() as s:
        post = load_post(s, str(post_id))
        with pytest.raises(ApprovalRefused, match="changed after you opened it"):
            approvals.approve(
                s, post, actor="a@union.example", now=datetime.now(UTC), grace=GRACE, version=seen
            )


def test_an_unapproved_post_is_missed_at_its_time_and_an_approval_after_the_grace_does_nothing(
    sessions, account
):
    now = datetime.now(UTC)
    queue(
        sessions,
        spec("Statement", key="late", at=now + timedelta(minutes=1), requires_approval=True),
    )
    sweeps = Sweeps(sessions, "w")
    assert sweeps.mark_missed(now + timedelta(minutes=10), GRACE, unapproved=True) == []
    after_grace = now + timedelta(minutes=17)
    missed = sweeps.mark_missed(after_grace, GRACE, unapproved=True)
    assert [m.label for m in missed] == ["demo/late"]
    with sessions() as s:
        delivery = s.scalars(select(Delivery)).one()
        assert delivery.state == DeliveryState.MISSED
        assert "not approved by its time" in (delivery.error or "")
        post_id = delivery.post_id
    with pytest.raises(ApprovalRefused, match="missed and will not go out"):
        _approve(sessions, post_id, "approver@union.example", now=after_grace)
    assert _state(sessions, post_id) == PostState.AWAITING_APPROVAL


def test_the_start_up_missed_sweep_leaves_unapproved_posts_to_their_own_sweep(sessions, account):
    now = datetime.now(UTC)
    queue(sessions, spec("Statement", at=now + timedelta(minutes=1), requires_approval=True))
    assert Sweeps(sessions, "w").mark_missed(now + timedelta(hours=1), GRACE) == []


def test_a_running_daemon_never_sends_an_unapproved_post_and_reports_it_missed(
    sessions, vault, engine, database_url, account
):
    x = FakePlatform("x")
    now = datetime.now(UTC)
    queue(
        sessions,
        spec(
            "Unapproved statement",
            key="held",
            at=now + timedelta(seconds=1),
            requires_approval=True,
        ),
        spec("Ordinary post", key="plain", at=now + timedelta(seconds=1)),
    )
    reported = []
    ledger = Ledger(sessions, "test-daemon")
    daemon = Daemon(
        Deliverer(ledger, {"x": x}, vault, RetryPolicy()),
        ledger,
        DaemonLock(engine, database_url),
        poll_interval=0.2,
        grace=timedelta(seconds=2),
        on_missed=reported.extend,
    )
    daemon.start()
    try:
        assert wait_for(lambda: [m.label for m in reported] == ["demo/held"], timeout=15)
    finally:
        daemon.stop()
    assert [p["text"] for p in x.posts] == ["Ordinary post"]


def test_the_diff_names_added_and_removed_words():
    pieces = approvals.word_diff("Ballot result: 92% yes", "Ballot result: 93% yes today")
    assert [(p.change, p.text.strip()) for p in pieces if p.change != Change.SAME] == [
        (Change.REMOVED, "92%"),
        (Change.ADDED, "93%"),
        (Change.ADDED, "today"),
    ] or [(p.change, p.text.strip()) for p in pieces if p.change != Change.SAME] == [
        (Change.REMOVED, "92%"),
        (Change.ADDED, "93% yes today"),
    ]
    lines = approvals.diff_lines({"x": ["a b c"]}, {"x": ["a B c"]})
    assert lines == ["x 1: a [-b-]{+B+} c"]


def test_whoever_changed_the_version_cannot_approve_it_either(sessions, account):
    post_id = _create(sessions)
    with sessions() as s:
        edit_post(
            s, s.get(Post, post_id), _draft("Changed by a second editor"),
            actor="approver@union.example", now=datetime.now(UTC),
        )  # fmt: skip
    with pytest.raises(ApprovalRefused, match="whoever changed it cannot approve"):
        _approve(sessions, post_id, "approver@union.example")
    _approve(sessions, post_id, "third@union.example")
    assert _state(sessions, post_id) == PostState.SCHEDULED


def test_whoever_changed_the_version_cannot_approve_it_after_someone_else_rejected_it(
    sessions, account
):
    post_id = _create(sessions)
    with sessions() as s:
        edit_post(
            s, s.get(Post, post_id), _draft("Changed by a second editor"),
            actor="approver@union.example", now=datetime.now(UTC),
        )  # fmt: skip
        approvals.reject(s, s.get(Post, post_id), actor="third@union.example", reason="No")
    with pytest.raises(ApprovalRefused, match="whoever changed it cannot approve"):
        _approve(sessions, post_id, "approver@union.example")
    assert _state(sessions, post_id) == PostState.REJECTED
