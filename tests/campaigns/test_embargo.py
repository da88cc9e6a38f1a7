"""Who may read an embargoed post, what others read, and that the daemon's log never
carries its text."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.campaigns import embargo
from bot.campaigns.embargo import Reader
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.storage.models import Delivery, DeliveryState, Post, PostState
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakePlatform

SECRET = "Ballot result: 92% voted to strike"


def _post(sessions, vault, *, at: datetime, requires_approval: bool = False) -> Post:
    add_account(sessions, vault, "x", "union")
    queue(
        sessions,
        spec(SECRET, key="result", at=at, embargoed=True, requires_approval=requires_approval),
        allow_past=True,
    )
    with sessions() as s:
        post = s.scalars(select(Post)).one()
        post.created_by = "ed@union.example"
        s.commit()
        post.campaign  # noqa: B018 - loaded for cover()
        return post


def test_only_its_author_and_approvers_read_it_before_its_time(sessions, vault):
    at = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    post = _post(sessions, vault, at=at)
    before = at - timedelta(minutes=1)
    assert embargo.may_read(post, Reader("ed@union.example"), before)
    assert embargo.may_read(post, Reader("boss@union.example", sees_all=True), before)
    assert not embargo.may_read(post, Reader("viewer@union.example"), before)
    assert not embargo.may_read(post, Reader(""), before)
    assert embargo.cover(post) == "Embargoed statement, 12:00"  # London in March: UTC+0
    assert embargo.may_read(post, Reader("viewer@union.example"), at)


def test_an_unapproved_statement_stays_covered_after_its_time(sessions, vault):
    at = datetime(2030, 7, 1, 11, 0, tzinfo=UTC)
    post = _post(sessions, vault, at=at, requires_approval=True)
    assert post.state == PostState.AWAITING_APPROVAL
    assert not embargo.may_read(post, Reader("viewer@union.example"), at + timedelta(days=1))
    assert embargo.cover(post) == "Embargoed statement, 12:00"  # London in July: UTC+1


def test_the_delivery_log_names_the_post_never_its_text(sessions, vault, caplog):
    _post(sessions, vault, at=datetime.now(UTC) - timedelta(seconds=1))
    x = FakePlatform("x")
    deliverer = Deliverer(Ledger(sessions, "w"), {"x": x}, vault, RetryPolicy())
    with sessions() as s:
        delivery_id = s.scalars(select(Delivery.id)).one()
    with caplog.at_level(logging.DEBUG):
        deliverer.run(delivery_id)
    with sessions() as s:
        assert s.get(Delivery, delivery_id).state == DeliveryState.SENT
    assert [p["text"] for p in x.posts] == [SECRET]
    assert caplog.records and "demo/result" in caplog.text
    assert "92%" not in caplog.text
