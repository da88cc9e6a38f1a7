"""Readiness: broken tokens marked, supporters emailed (aiosmtpd on 127.0.0.1), once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.pledges.mail import Mailer, reconnect_message
from bot.pledges.pledging import find_campaign, progress
from bot.pledges.readiness import check_readiness
from bot.settings import load_settings
from bot.storage.models import Pledge, PledgeState
from bot.storage.vault import Vault
from tests.support.pledges import CHECK_AT, NOW, Inbox, Pledger, Tokens, make_campaign


def test_readiness_marks_broken_pledges_and_emails_a_reconnect_link(
    sessions: sessionmaker[Session],
    vault: Vault,
    pledge_factory: Pledger,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "1", followers=100)
    pledge_factory("fujitsu", "2", followers=100, email="rep@example.org")
    pledge_factory("fujitsu", "3", followers=100)  # revoked, no email: marked, not emailed
    pledge_factory("fujitsu", "4", followers=100, email="flaky@example.org")
    x = Tokens(revoked={"2", "3"}, flaky={"4"})
    settings = load_settings(
        None,
        environ={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "off"},
    )
    kwargs: dict[str, Any] = {
        "hours": 24,
        "base_url": "https://pledge.union.org.uk/",
        "mailer": Mailer(settings),
    }
    report = check_readiness(sessions, vault, {"x": x}, now=CHECK_AT, **kwargs)
    assert (report.checked, report.ready, report.broken, report.emailed, report.postponed) == (
        4,
        1,
        2,
        1,
        1,
    )
    [(to, message)] = inbox.messages
    assert to == ["rep@example.org"]
    assert "https://pledge.union.org.uk/c/fujitsu" in message.get_payload()
    with sessions() as s:
        states = {p.account.platform_user_id: p.state for p in s.scalars(select(Pledge))}
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        p = progress(s, pc, CHECK_AT, readiness_hours=24)
        unwindowed = progress(s, pc, CHECK_AT)
    assert states["2"] == states["3"] == PledgeState.NEEDS_RECONNECT
    assert states["1"] == states["4"] == PledgeState.ACTIVE
    # pledged: 1 re-read at 250, 2 and 3 still pledged (100 each), 4 unchecked (100)
    assert (p.pledged_reach, p.ready_reach) == (550, 250)
    assert unwindowed.ready_reach == 350  # without the window, 4 is not known broken

    # the next run re-checks only the one that could not be checked, and emails nobody again
    x.verified.clear()
    again = check_readiness(
        sessions, vault, {"x": x}, now=CHECK_AT + timedelta(minutes=1), **kwargs
    )
    assert x.verified == ["4"] and again.emailed == 0 and len(inbox.messages) == 1


def test_no_check_runs_before_the_readiness_window(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "1")
    x = Tokens(revoked={"1"})
    report = check_readiness(
        sessions, vault, {"x": x}, now=NOW, hours=24, base_url="http://127.0.0.1"
    )
    assert report.checked == 0 and x.verified == []


def test_a_pledge_made_inside_the_window_counts_as_checked(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s)
    pledge_factory("fujitsu", "1", now=CHECK_AT)
    x = Tokens(revoked=set())
    report = check_readiness(
        sessions, vault, {"x": x}, now=CHECK_AT + timedelta(hours=1), hours=24, base_url="x"
    )
    assert report.checked == 0


def test_a_reconnect_subject_is_one_line_whatever_the_title() -> None:
    subject, body = reconnect_message("Defend the union\nat Fujitsu", "rep", "x", "https://u/c/f")
    assert subject == "Please reconnect your X account for “Defend the union at Fujitsu”"
    assert "https://u/c/f" in body


def test_a_facebook_page_is_not_called_an_at_handle_in_the_reconnect_email() -> None:
    _, body = reconnect_message("Fujitsu", "Ann's Bakery", "facebook", "https://u/c/f")
    assert "Facebook Page “Ann's Bakery”" in body and "@Ann" not in body
    _, body = reconnect_message("Fujitsu", "annrep", "x", "https://u/c/f")
    assert "X account @annrep" in body


def test_a_title_with_a_line_break_does_not_stop_the_reconnect_emails(
    sessions: sessionmaker[Session],
    vault: Vault,
    pledge_factory: Pledger,
    smtp: tuple[int, Inbox],
) -> None:
    port, inbox = smtp
    with sessions() as s:
        pc = make_campaign(s)
        pc.campaign.title = "Defend the union\nat Fujitsu"  # a YAML block scalar, say
        s.commit()
    for user in "12":
        pledge_factory("fujitsu", user, email=f"rep{user}@example.org")
    settings = load_settings(
        None,
        environ={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "off"},
    )
    report = check_readiness(
        sessions,
        vault,
        {"x": Tokens(revoked={"1", "2"})},
        now=CHECK_AT,
        hours=24,
        base_url="https://pledge.union.example",
        mailer=Mailer(settings),
    )
    assert (report.broken, report.emailed) == (2, 2)
    assert sorted(to for to, _ in inbox.messages) == [
        ["rep1@example.org"],
        ["rep2@example.org"],
    ]
    with sessions() as s:
        states = set(s.scalars(select(Pledge.state)))
    assert states == {PledgeState.NEEDS_RECONNECT}


def test_reconnecting_through_one_campaign_revives_the_same_accounts_other_pledges(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    # The token is the account's, not the pledge's: a supporter who pledged to two
    # campaigns and reconnects from one reconnect email must not be left out of the other.
    with sessions() as s:
        make_campaign(s, "first")
        make_campaign(s, "second")
    for slug in ("first", "second"):
        pledge_factory(slug, "1", token="old-token")
    report = check_readiness(
        sessions, vault, {"x": Tokens(revoked={"1"})}, now=CHECK_AT, hours=24, base_url="https://u"
    )
    assert report.broken == 2
    pledge_factory("first", "1", token="new-token", now=CHECK_AT + timedelta(minutes=5))
    with sessions() as s:
        states = {p.pledge_campaign.campaign.slug: p.state for p in s.scalars(select(Pledge))}
        pc = find_campaign(s, "second")
        assert pc is not None
        ready = progress(s, pc, CHECK_AT + timedelta(minutes=6), readiness_hours=24)
    assert states == {"first": PledgeState.ACTIVE, "second": PledgeState.ACTIVE}
    assert ready.ready_reach == 100  # verified by the new sign-in
