"""After a release a supporter's token is kept only while their post's engagement is read,
never to post again; with PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT=false it goes at the end."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.enqueue import resolve_target
from bot.pledges import kept_tokens
from bot.pledges.jobs import PledgeJobs
from bot.pledges.pledging import find_campaign, withdraw
from bot.pledges.release import release, settle
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.models import Account, AccountStatus, Delivery, DeliveryState, Pledge, PledgeState
from bot.storage.vault import Vault
from tests.support.pledges import NOW, RELEASE, Pledger, make_campaign

DAY = timedelta(days=1)
# SANDBOX=off with no real platform set would still mean the sandbox: real X keys make the
# platforms' clock the world's, so windows are in days, not sandbox minutes.
REAL = {"X_CONSUMER_KEY": "k", "X_CONSUMER_SECRET": "s"}


def runtime_for(engine: Engine, database_url: str, **env: str) -> Runtime:
    return Runtime(
        load_settings(None, environ={"DATABASE_URL": database_url, **REAL, **env}), engine
    )


def released(
    sessions: sessionmaker[Session], pledge_factory: Pledger, *, sent: tuple[str, ...]
) -> None:
    """Campaign "fujitsu" released at RELEASE: supporters "1" (X) and "2" (a Page) pledged;
    the posts of the users in ``sent`` went out, the others failed on a revoked token."""
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1", email="rep@union.example")
    pledge_factory("fujitsu", "2", platform="facebook")
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None and release(s, pc.id, RELEASE).posts == 2
        for pledge in s.scalars(select(Pledge)):
            went = pledge.account is not None and pledge.account.platform_user_id in sent
            s.execute(
                update(Delivery)
                .where(Delivery.id == pledge.delivery_id)
                .values(
                    state=DeliveryState.SENT if went else DeliveryState.FAILED,
                    error_kind=None if went else "auth",
                    sent_at=RELEASE if went else None,
                    platform_ids=["p1"] if went else [],
                )
            )
        s.commit()
        assert settle(s, pc.id, RELEASE + timedelta(minutes=1))


def tokens(sessions: sessionmaker[Session]) -> dict[str, bool]:
    with sessions() as s:
        return {a.platform_user_id: bool(a.credentials) for a in s.scalars(select(Account))}


def sweep(sessions: sessionmaker[Session], runtime: Runtime, at: datetime) -> int:
    with sessions() as s:
        return kept_tokens.forget_spent_tokens(s, at, runtime.settings)


def test_a_token_whose_post_went_out_is_kept_and_the_others_go_at_the_release_end(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1",))
    runtime = runtime_for(engine, database_url)
    assert tokens(sessions) == {"1": True, "2": False}  # "2" failed: nothing to read
    assert sweep(sessions, runtime, RELEASE + DAY) == 0
    with sessions() as s:
        account = s.scalars(select(Account).where(Account.platform_user_id == "1")).one()
        assert account.status == AccountStatus.ACTIVE  # the poller reads only active tokens
        assert [p.email for p in s.scalars(select(Pledge))] == [None, None]  # as before


def test_the_token_is_deleted_once_the_last_snapshot_is_taken(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1", "2"))
    runtime = runtime_for(engine, database_url)
    with sessions() as s:  # the poller has taken 3 of the 4 snapshots (1h, 24h, 7d)
        s.execute(update(Delivery).values(engagement_stage=3))
        s.commit()
    assert sweep(sessions, runtime, RELEASE + 8 * DAY) == 0
    assert tokens(sessions) == {"1": True, "2": True}
    with sessions() as s:  # the 29d snapshot of the Page's post is in
        s.execute(
            update(Delivery).where(Delivery.platform == "facebook").values(engagement_stage=4)
        )
        s.commit()
    assert sweep(sessions, runtime, RELEASE + 29 * DAY) == 1
    assert tokens(sessions) == {"1": True, "2": False}
    with sessions() as s:
        page = s.scalars(select(Account).where(Account.platform_user_id == "2")).one()
        assert page.status == AccountStatus.DISABLED and "engagement" in page.status_reason


def test_the_token_is_deleted_when_its_time_has_passed_even_if_snapshots_were_missed(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1", "2"))
    runtime = runtime_for(engine, database_url)  # last offset 29d + a day's margin
    assert sweep(sessions, runtime, RELEASE + 30 * DAY - timedelta(minutes=1)) == 0
    assert sweep(sessions, runtime, RELEASE + 30 * DAY + timedelta(minutes=1)) == 2
    assert tokens(sessions) == {"1": False, "2": False}


def test_a_deleted_post_needs_its_token_no_longer(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1", "2"))
    with sessions() as s:
        s.execute(update(Delivery).where(Delivery.platform == "x").values(platform_deleted_at=NOW))
        s.commit()
    assert sweep(sessions, runtime_for(engine, database_url), RELEASE + DAY) == 1
    assert tokens(sessions) == {"1": False, "2": True}


def test_on_an_accelerated_sandbox_the_window_passes_as_fast_as_the_snapshots() -> None:
    settings = load_settings(None, environ={"SANDBOX_TIME_ACCELERATION": "1000"})
    assert kept_tokens.read_window(settings) == 30 * DAY / 1000  # 43.2 real minutes
    short = load_settings(None, environ={**REAL, "ENGAGEMENT_OFFSETS": "1h,2d"})
    assert kept_tokens.read_window(short) == 3 * DAY
    assert (settings.pledge_token_read_days, short.pledge_token_read_days) == (30, 3)  # pages
    off = load_settings(None, environ={**REAL, "PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT": "false"})
    assert kept_tokens.read_window(off) is None and off.pledge_token_read_window is None


@pytest.mark.parametrize("bad", ["maybe", "2"])
def test_the_setting_is_true_or_false_and_a_bad_value_is_named(bad: str) -> None:
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT.*true or false"):
        load_settings(None, environ={"PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT": bad})


def _release_through_the_job(runtime: Runtime, sessions: sessionmaker[Session]) -> None:
    jobs = PledgeJobs(runtime, clock=lambda: RELEASE)
    assert [o.posts for o in jobs.releases()] == [2]
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENT, sent_at=RELEASE))
        s.commit()
    jobs.clock = lambda: RELEASE + timedelta(minutes=1)
    assert jobs.releases() == []  # settles: every post is final


def test_with_the_setting_off_tokens_go_when_the_release_ends(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    runtime = runtime_for(engine, database_url, PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT="false")
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2", platform="facebook")
    _release_through_the_job(runtime, sessions)
    assert tokens(sessions) == {"1": False, "2": False}  # in the same tick, not a minute on
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        note = kept_tokens.no_figures_note(s, pc.campaign_id, runtime.settings)
        assert "Facebook pledge posts have no engagement figures" in note
        assert (
            kept_tokens.no_figures_note(
                s, pc.campaign_id, runtime_for(engine, database_url).settings
            )
            == ""
        )


def test_with_the_setting_on_the_job_keeps_them_and_its_sweep_deletes_them_later(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    runtime = runtime_for(engine, database_url)
    with sessions() as s:
        make_campaign(s, goal=1)
    pledge_factory("fujitsu", "1")
    pledge_factory("fujitsu", "2", platform="facebook")
    _release_through_the_job(runtime, sessions)
    assert tokens(sessions) == {"1": True, "2": True}
    sweeper = PledgeJobs(runtime, clock=lambda: RELEASE + 31 * DAY)
    assert sweeper.forget_spent_tokens() == 2
    assert tokens(sessions) == {"1": False, "2": False}


def test_no_delivery_can_be_created_from_a_spent_pledges_kept_token(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1", "2"))
    runtime = runtime_for(engine, database_url)
    assert tokens(sessions) == {"1": True, "2": True}
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        assert release(s, pc.id, RELEASE + DAY).state == ""  # released once, never again
        assert not settle(s, pc.id, RELEASE + DAY)
        account, problem = resolve_target(s, "x:@h1")  # schedules cannot reach it either
        assert account is None and "no x account @h1" in problem
    assert PledgeJobs(runtime, clock=lambda: RELEASE + DAY).releases() == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 2


def test_withdrawing_a_later_pledge_deletes_the_token_at_once_though_a_post_is_still_read(
    engine: Engine, database_url: str, sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    released(sessions, pledge_factory, sent=("1", "2"))
    with sessions() as s:
        make_campaign(s, "second", goal=1, release_at=RELEASE + 10 * DAY)
    again = pledge_factory("second", "1", now=RELEASE + DAY)
    with sessions() as s:
        assert withdraw(s, again.withdraw_secret, RELEASE + 2 * DAY)
    assert tokens(sessions) == {"1": False, "2": True}


def test_a_missed_goal_deletes_tokens_and_emails_and_the_link_still_withdraws(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, goal=5)  # all-or-nothing
    r = pledge_factory("fujitsu", "1", email="a@example.org")
    with sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        assert release(s, pc.id, RELEASE).state == "goal_missed"
    with sessions() as s:
        acct = s.scalars(select(Account)).one()
        assert acct.credentials == "" and acct.status == "disabled"
        assert s.scalars(select(Pledge)).one().email is None
    with sessions() as s:
        assert withdraw(s, r.withdraw_secret, RELEASE + timedelta(days=30)) is True
        assert s.scalars(select(Pledge)).one().state == PledgeState.WITHDRAWN


def test_a_released_campaign_keeps_a_token_only_to_read_and_a_withdraw_still_deletes_it(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    # A token whose post went out is kept (read-only) while that post's engagement is
    # read, and deleted after (the tests above); withdrawing deletes it at once.
    with sessions() as s:
        make_campaign(s, "first", goal=1, release_at=NOW + timedelta(hours=1))
        make_campaign(s, "second", goal=1)
    pledge_factory("first", "1")
    with sessions() as s:
        pc = find_campaign(s, "first")
        assert pc is not None
        release(s, pc.id, NOW + timedelta(hours=1))
        s.execute(update(Delivery).values(state="sent", sent_at=NOW + timedelta(hours=1)))
        s.commit()
        assert settle(s, pc.id, NOW + timedelta(hours=1, minutes=1))
        assert s.scalars(select(Account)).one().credentials  # kept to read engagement
    r2 = pledge_factory("second", "1", now=NOW + timedelta(hours=2))
    with sessions() as s:
        assert withdraw(s, r2.withdraw_secret, NOW + timedelta(hours=3)) is True
        acct = s.scalars(select(Account)).one()
        assert acct.credentials == ""  # withdrawing deletes it at once


def test_finishing_one_campaign_keeps_tokens_another_open_campaign_needs(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, "first", goal=5, release_at=NOW + timedelta(hours=1))
        make_campaign(s, "second", goal=1)
    pledge_factory("first", "1")
    pledge_factory("second", "1")
    with sessions() as s:
        pc = find_campaign(s, "first")
        assert pc is not None
        assert release(s, pc.id, NOW + timedelta(hours=1)).state == "goal_missed"
    with sessions() as s:
        acct = s.scalars(select(Account)).one()
        assert vault.open(acct.credentials).token == "tok-1"
