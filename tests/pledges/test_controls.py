"""An approver's release controls: hold and resume, cancel before the release, stop during
it (the pending deliveries cancelled, the ones in flight left to finish), each audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.base import Published
from bot.pledges import controls
from bot.pledges.cutoff import is_open
from bot.pledges.pledging import find_campaign, withdraw
from bot.pledges.release import release, run_due
from bot.storage.models import (
    Account,
    AuditEntry,
    Delivery,
    DeliveryState,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    Post,
    PostState,
)
from bot.storage.vault import Vault
from tests.support.fakes import FakePlatform
from tests.support.pledges import NOW, RELEASE, Pledger, make_campaign

ACTOR = "approver@example.org"


def campaign(s: Session) -> PledgeCampaign:
    pc = find_campaign(s, "fujitsu")
    assert pc is not None
    return pc


def actions(s: Session) -> list[str]:
    return list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def released(sessions: sessionmaker[Session], pledge_factory: Pledger, n: int) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    for user in range(1, n + 1):
        pledge_factory("fujitsu", str(user))
    with sessions() as s:
        assert release(s, campaign(s).id, RELEASE).posts == n


def test_a_held_release_is_skipped_by_the_release_job_and_still_takes_pledges(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    with sessions() as s:
        controls.hold(s, campaign(s), actor=ACTOR, now=NOW)
    late = RELEASE + timedelta(hours=1)
    assert run_due(sessions, late) == []
    pledge_factory("fujitsu", "2", now=late)  # pledging goes on past the held time
    with sessions() as s:
        pc = campaign(s)
        assert pc.state == PledgeCampaignState.HELD and is_open(pc, late)
        assert s.scalar(select(func.count()).select_from(Post)) == 0
        assert actions(s) == ["release.hold"]


def test_resuming_a_release_whose_time_passed_needs_a_new_time(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    late = RELEASE + timedelta(hours=1)
    with sessions() as s:
        controls.hold(s, campaign(s), actor=ACTOR, now=NOW)
        with pytest.raises(controls.ControlError, match="give a new release time"):
            controls.resume(s, campaign(s), actor=ACTOR, now=late)
        new_time = late + timedelta(hours=2)
        controls.resume(s, campaign(s), actor=ACTOR, now=late, release_at=new_time)
        assert campaign(s).state == PledgeCampaignState.OPEN
        assert campaign(s).release_at == new_time
    assert run_due(sessions, late + timedelta(hours=1)) == []
    assert [o.posts for o in run_due(sessions, new_time)] == [1]
    with sessions() as s:
        assert actions(s) == ["release.hold", "release.resume"]


def test_a_release_cannot_be_held_once_it_has_been_written(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, 1)
    with sessions() as s:
        with pytest.raises(controls.ControlError, match="can only be stopped"):
            controls.hold(s, campaign(s), actor=ACTOR, now=RELEASE)
        with pytest.raises(controls.ControlError, match="can only be stopped"):
            controls.cancel(s, campaign(s), actor=ACTOR, now=RELEASE)
        assert campaign(s).state == PledgeCampaignState.RELEASING
        assert actions(s) == []


def test_cancelling_posts_nothing_and_deletes_supporters_emails_and_tokens(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    receipt = pledge_factory("fujitsu", "1", email="a@union.org.uk")
    pledge_factory("fujitsu", "2")
    with sessions() as s:
        assert controls.cancel(s, campaign(s), actor=ACTOR, now=NOW) == 2
    assert run_due(sessions, RELEASE) == []
    with sessions() as s:
        assert campaign(s).state == PledgeCampaignState.CANCELLED
        assert s.scalar(select(func.count()).select_from(Post)) == 0
        assert s.scalars(select(Pledge.email)).all() == [None, None]
        assert set(s.scalars(select(Account.credentials))) == {""}
        assert actions(s) == ["release.cancel"]
        # withdrawing afterwards changes nothing and does not fail
        assert not withdraw(s, receipt.withdraw_secret, NOW)


def test_a_cancel_keeps_the_token_another_open_campaign_needs(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
        make_campaign(s, "other", goal=1)
    pledge_factory("fujitsu", "1")
    pledge_factory("other", "1")
    with sessions() as s:
        controls.cancel(s, campaign(s), actor=ACTOR, now=NOW)
        assert s.scalars(select(Account.credentials)).one() != ""


def test_stopping_cancels_what_has_not_started_and_leaves_what_is_in_flight(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, 6)
    x = FakePlatform("x")
    deliverer = Deliverer(
        Ledger(sessions, "w"), {"x": x}, vault, RetryPolicy(3, 1, 5), clock=lambda: RELEASE
    )
    with sessions() as s:
        ids = list(s.scalars(select(Delivery.id).order_by(Delivery.id)))
    deliverer.run(ids[0])
    deliverer.run(ids[1])
    # a third is claimed by another worker, its call in flight when the stop comes
    claimed = Ledger(sessions, "other").claim(ids[2], RELEASE)
    assert claimed is not None
    with sessions() as s:
        done = controls.stop(s, campaign(s), actor=ACTOR, now=RELEASE)
    assert (done.sent, done.stopped, done.in_flight) == (2, 3, 1)
    # the claimed one finishes; nothing else goes, however often the daemon looks
    assert deliverer.ledger.sent(claimed, ["x-3"], x_published(), RELEASE)
    for delivery_id in ids:
        deliverer.run(delivery_id)
    run_due(sessions, RELEASE + timedelta(hours=1))
    assert len(x.posts) == 2
    with sessions() as s:
        states = dict(s.execute(select(Delivery.id, Delivery.state)).all())
        assert [states[i] for i in ids] == ["sent"] * 3 + ["cancelled"] * 3
        assert campaign(s).state == PledgeCampaignState.STOPPED
        assert set(
            s.scalars(
                select(Post.state).where(
                    Post.id.in_(
                        select(Delivery.post_id).where(Delivery.state == DeliveryState.CANCELLED)
                    )
                )
            )
        ) == {PostState.CANCELLED}
        entry = s.scalars(select(AuditEntry)).one()
        assert entry.action == "release.stop" and entry.actor == ACTOR
        assert entry.after == {"state": "stopping", "sent": 2, "stopped": 3, "in_flight": 1}


def x_published() -> Published:
    return Published("x-3", "https://x.test/x-3")


def test_a_stopped_delivery_that_comes_back_for_a_retry_is_not_sent(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, 2)
    ledger = Ledger(sessions, "w")
    with sessions() as s:
        first = s.scalars(select(Delivery.id).order_by(Delivery.id)).first()
    assert first is not None
    job = ledger.claim(first, RELEASE + timedelta(hours=1))
    assert job is not None
    with sessions() as s:
        assert controls.stop(s, campaign(s), actor=ACTOR, now=RELEASE).in_flight == 1
    # the platform answered 503: the ledger puts it back to pending for later
    ledger.retry_later(job, RELEASE, "503", "transient", RELEASE)
    x = FakePlatform("x")
    Deliverer(ledger, {"x": x}, vault, RetryPolicy(3, 1, 5), clock=lambda: RELEASE).run(first)
    run_due(sessions, RELEASE)
    assert x.posts == []
    with sessions() as s:
        assert set(s.scalars(select(Delivery.state))) == {DeliveryState.CANCELLED}
        assert campaign(s).state == PledgeCampaignState.STOPPED


def test_only_a_release_in_progress_can_be_stopped(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
        with pytest.raises(controls.ControlError, match="only a release in progress"):
            controls.stop(s, campaign(s), actor=ACTOR, now=NOW)


def test_the_allowed_controls_follow_the_state(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
        pc = campaign(s)
        assert controls.counts(s, pc).allowed(NOW) == [
            controls.Control.HOLD,
            controls.Control.CANCEL,
        ]
        assert controls.counts(s, pc).allowed(RELEASE) == []
        controls.hold(s, pc, actor=ACTOR, now=NOW)
        assert controls.counts(s, pc).allowed(RELEASE) == [
            controls.Control.RESUME,
            controls.Control.CANCEL,
        ]
