"""The release: goal policies, one post per pledge written once, revoked tokens."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.platforms.base import AccountInfo, AuthError, Credentials, Published
from bot.pledges.pledging import add_pledge, find_campaign, withdraw
from bot.pledges.release import release, run_due, spread, status
from bot.storage.models import (
    Delivery,
    DeliveryState,
    GoalPolicy,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
    Post,
)
from bot.storage.vault import Vault
from tests.support.fakes import FakePlatform
from tests.support.pledges import NOW, RELEASE, Pledger, make_campaign


class RevokedFor(FakePlatform):
    """A fake X whose listed users have revoked the app."""

    def __init__(self, revoked: set[str]) -> None:
        super().__init__("x")
        self.revoked = revoked

    def publish(self, creds: Credentials, text: str, **kw: object) -> Published:
        if creds.platform_user_id in self.revoked:
            raise AuthError("Unauthorized", code=401)
        return super().publish(creds, text, **kw)  # type: ignore[arg-type]


def drain(sessions: sessionmaker[Session], deliverer: Deliverer, at: datetime) -> None:
    """Run every due delivery until none is left open (the daemon, without threads)."""
    for _ in range(20):
        ledger = deliverer.ledger
        due = Sweeps(ledger.sessions, ledger.worker).due(at + timedelta(days=1))
        if not due:
            return
        for delivery_id, _ in due:
            deliverer.run(delivery_id)


def campaign_id(sessions: sessionmaker[Session], slug: str = "fujitsu") -> int:
    with sessions() as s:
        pc = find_campaign(s, slug)
        assert pc is not None
        return pc.id


def test_all_or_nothing_short_of_the_goal_posts_nothing(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=3, policy=GoalPolicy.ALL_OR_NOTHING)
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2")
    with sessions() as s:
        out = release(s, campaign_id(sessions), RELEASE)
    assert out.state == PledgeCampaignState.GOAL_MISSED and out.pledged == 2
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Post)) == 0
        assert s.scalar(select(PledgeCampaign.state)) == PledgeCampaignState.GOAL_MISSED


def test_release_anyway_short_of_the_goal_still_goes(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=3, policy=GoalPolicy.RELEASE_ANYWAY)
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2")
    with sessions() as s:
        out = release(s, campaign_id(sessions), RELEASE)
    assert out.state == PledgeCampaignState.RELEASING and out.posts == 2


def test_all_or_nothing_at_the_goal_goes(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=2)
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2")
    with sessions() as s:
        assert release(s, campaign_id(sessions), RELEASE).posts == 2


def test_a_campaign_is_not_released_before_its_time(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    with sessions() as s:
        assert release(s, campaign_id(sessions), RELEASE - timedelta(seconds=11)).state == ""
        assert s.scalar(select(func.count()).select_from(Post)) == 0


def test_a_release_is_written_once_however_often_it_is_asked_for(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    for user in "123":
        pledge_factory("fujitsu", user)
    pc_id = campaign_id(sessions)
    outcomes = []
    for _ in range(3):
        with sessions() as s:
            outcomes.append(release(s, pc_id, RELEASE))
    assert [o.posts for o in outcomes] == [3, 0, 0]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 3
        pledges = s.scalars(select(Pledge)).all()
        assert all(p.delivery_id is not None for p in pledges)


def test_each_post_carries_its_supporters_words_and_the_tagged_link(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1, variants=["Variant A"])
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2")
    pledge_factory("fujitsu", "3", wording="My own words")
    with sessions() as s:
        release(s, campaign_id(sessions), RELEASE)
        posts = s.scalars(select(Post).order_by(Post.key)).all()
    texts = sorted(p.parts["x"][0] for p in posts)
    assert texts == ["My own words", "Stop the victimisation of reps at Fujitsu", "Variant A"]
    assert {p.kind for p in posts} == {"pledge"}
    assert all(p.link and "utm_source=x" in p.link for p in posts)


def test_window_zero_sends_all_at_release_time_and_a_window_spreads_them() -> None:
    rng = random.Random(1)
    assert spread(5, 0, rng) == [0.0] * 5
    offsets = spread(100, 10, rng)
    assert all(0 <= o < 600 for o in offsets)
    assert offsets == sorted(offsets)  # one per slot
    assert max(offsets) > 590 - 6 and min(offsets) < 6


def test_a_big_mastodon_instance_is_spread_past_the_window_and_written_once(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        pc = make_campaign(s, goal=1, window=2)
        pc.message = {**pc.message, "mastodon": "Stand with the Fujitsu reps"}
        s.commit()
    for user in range(300):
        pledge_factory("fujitsu", f"m{user}", platform="mastodon", handle=f"u{user}@big.example")
    for user in range(5):
        pledge_factory("fujitsu", str(user))
    pc_id = campaign_id(sessions)
    with sessions() as s:
        out = release(s, pc_id, RELEASE, random.Random(4))
    with sessions() as s:
        again = release(s, pc_id, RELEASE, random.Random(4))
    assert (out.posts, again.posts) == (305, 0)
    # 300 x 1.1 requests at big.example's 300 per 5 minutes: 6 minutes, not the window's 2
    assert out.notes == [
        "Mastodon: 300 posts; the largest instance, big.example, has 300, which need at "
        "least 6 min at its per-address limit (300 requests per 5 minutes); they will be "
        "spread over 6 min"
    ]
    with sessions() as s:
        rows = s.execute(
            select(Delivery.platform, Delivery.due_at, Post.scheduled_at).join(Post)
        ).all()
    assert len(rows) == 305
    late = {
        platform: sorted(
            (due.replace(tzinfo=None) - RELEASE.replace(tzinfo=None)).total_seconds()
            for p, due, _ in rows
            if p == platform
        )
        for platform in ("x", "mastodon")
    }
    assert all(0 <= o < 120 for o in late["x"])  # X keeps the 2-minute window
    assert 5 * 60 < late["mastodon"][-1] < 6 * 60 and late["mastodon"][0] < 2
    assert all(due == scheduled for _, due, scheduled in rows)  # lateness is per slot


def test_with_no_per_address_limit_set_a_big_mastodon_instance_keeps_the_window(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    from bot.pledges.limits import Budgets

    with sessions() as s:
        pc = make_campaign(s, goal=1, window=0)
        pc.message = {**pc.message, "mastodon": "Stand with the Fujitsu reps"}
        s.commit()
    for user in range(300):
        pledge_factory("fujitsu", f"m{user}", platform="mastodon", handle=f"u{user}@big.example")
    with sessions() as s:
        out = release(s, campaign_id(sessions), RELEASE, budgets=Budgets(mastodon=0))
        dues = set(s.scalars(select(Delivery.due_at)))
    assert out.posts == 300 and out.notes == []
    assert {d.replace(tzinfo=None) for d in dues} == {RELEASE.replace(tzinfo=None)}


def test_withdrawn_pledges_post_nothing(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    gone = pledge_factory("fujitsu", "2")
    with sessions() as s:
        assert withdraw(s, gone.withdraw_secret, NOW)
        assert release(s, campaign_id(sessions), RELEASE).posts == 1


def test_a_revoked_token_marks_that_pledge_and_the_others_go(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1)
    for user in "12345":
        pledge_factory("fujitsu", user)
    x = RevokedFor({"3"})
    deliverer = Deliverer(
        Ledger(sessions, "w"), {"x": x}, vault, RetryPolicy(3, 1, 5), clock=lambda: RELEASE
    )
    run_due(sessions, RELEASE)
    drain(sessions, deliverer, RELEASE)
    run_due(sessions, RELEASE)
    assert sorted(str(p["user"]) for p in x.posts) == ["1", "2", "4", "5"]
    with sessions() as s:
        states = {p.account.platform_user_id: p.state for p in s.scalars(select(Pledge))}
        pc = s.scalars(select(PledgeCampaign)).one()
        st = status(s, pc)
        assert pc.state == PledgeCampaignState.RELEASED
    assert states == {
        "1": PledgeState.ACTIVE,
        "2": PledgeState.ACTIVE,
        "3": PledgeState.NEEDS_RECONNECT,
        "4": PledgeState.ACTIVE,
        "5": PledgeState.ACTIVE,
    }
    assert st.by_state == {DeliveryState.SENT: 4, DeliveryState.FAILED: 1}
    assert st.needs_reconnect == 1 and st.done == 5 and st.last_sent_at == RELEASE


def test_a_long_release_window_posts_every_pledge_on_its_slot(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with sessions() as s:
        make_campaign(s, goal=1, window=60)
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        for n in range(12):
            add_pledge(
                s, vault, pc, "x", Credentials(f"t{n}", "s", f"u{n}"),
                AccountInfo(f"u{n}", f"h{n}", "n", 1), now=NOW,
            )  # fmt: skip
    run_due(sessions, RELEASE)
    x = FakePlatform("x")
    clock_now = [RELEASE]
    deliverer = Deliverer(
        Ledger(sessions, "w"), {"x": x}, vault, RetryPolicy(3, 1, 5), clock=lambda: clock_now[0]
    )
    with sessions() as s:
        rows = s.execute(select(Delivery.id, Delivery.due_at, Post.scheduled_at).join(Post)).all()
    assert all(due == scheduled for _, due, scheduled in rows)
    for delivery_id, due_at, _ in sorted(rows, key=lambda r: r[1]):
        clock_now[0] = due_at  # the daemon runs each one at its due time
        deliverer.run(delivery_id)
    with sessions() as s:
        states = list(s.scalars(select(Delivery.state)))
    assert states == ["sent"] * 12 and len(x.posts) == 12
