"""Defects found by the second review of the pledge code, each proved here first."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.schedules.pledge_campaigns import load_pledge_files
from bot.campaigns.specs import SpecError
from bot.pledges.campaigns import PledgeCampaignSpec, check_spec
from bot.pledges.mail import Mailer, reconnect_message
from bot.pledges.pledging import PledgeReceipt, find_campaign, progress
from bot.pledges.readiness import check_readiness
from bot.pledges.texts import utm_tag
from bot.settings import load_settings
from bot.storage.models import Pledge, PledgeState
from bot.storage.vault import Vault
from tests.pledges.conftest import NOW, RELEASE, make_campaign
from tests.pledges.test_readiness import CHECK_AT, Inbox, Tokens, smtp  # noqa: F401
from tests.pledges.test_rules import five_pledges_and_three_union_posts, report

Pledger = Callable[..., PledgeReceipt]


def test_posts_already_queued_for_the_day_before_the_release_count_against_the_app_cap(
    sessions: sessionmaker[Session], vault: Vault, pledge_factory: Pledger
) -> None:
    # Checked days ahead: nothing is sent yet, but 3 X posts are queued for the evening
    # before the release. X counts them in the same rolling 24 h.
    five_pledges_and_three_union_posts(sessions, vault, pledge_factory, 12, 11, 10)
    r = report(sessions, X_APP_DAILY_POST_LIMIT="6")
    assert (r.app_used_before, r.go_at_release, r.deferred) == (3, 3, 2)
    assert r.deferred_until == RELEASE + timedelta(hours=13)  # the 2nd queued turns 24 h old
    assert "3 of the 5 X posts would go at the release" in r.warnings[0]


def test_the_cost_of_a_single_post_is_shown_to_the_tenth_of_a_cent(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, link=None)
    pledge_factory("fujitsu", "1")
    lines = report(sessions).lines()
    assert any("estimated X cost: $0.015 " in line for line in lines), lines


def test_utm_tags_keep_the_volunteers_own_query_as_written() -> None:
    tagged = utm_tag(
        "https://union.example/p?ref&id=a%2Fb;lang=en#sign", platform="x", campaign="c"
    )
    assert tagged == (
        "https://union.example/p?ref&id=a%2Fb;lang=en"
        "&utm_source=x&utm_medium=social&utm_campaign=c#sign"
    )
    # a volunteer's own tagging still wins, and a link without a query gets one
    assert utm_tag("https://u.example/?utm_source=leaflet", platform="x", campaign="c") == (
        "https://u.example/?utm_source=leaflet&utm_medium=social&utm_campaign=c"
    )
    assert utm_tag("https://u.example", platform="facebook", campaign="c") == (
        "https://u.example?utm_source=facebook&utm_medium=social&utm_campaign=c"
    )


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
    smtp: tuple[int, Inbox],  # noqa: F811
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


def test_a_very_long_campaign_text_is_refused_without_counting_it() -> None:
    text = "word " * 12_000
    spec = PledgeCampaignSpec(
        slug="fujitsu",
        title="Fujitsu",
        message={"x": text, "facebook": "Stand with the reps"},
        goal=5,
        release_at=RELEASE,
        timezone="Europe/London",
    )
    started = time.perf_counter()
    [problem] = check_spec(spec)
    assert time.perf_counter() - started < 0.2
    assert problem.field == "text.x"
    assert "is 60,000 characters; X allows 280" in problem.message


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


def test_sign_ins_left_unfinished_are_deleted_even_if_nobody_signs_in_again(
    engine: Engine, database_url: str, vault: Vault
) -> None:
    # A supporter who signs in with Facebook and leaves at the Page picker leaves their
    # Pages' tokens (sealed) in a sign-in row; they must not stay there for good.
    from bot.pledges import oauth_requests
    from bot.pledges.jobs import PledgeJobs
    from bot.runtime.wiring import Runtime
    from bot.storage.models import OAuthRequest
    from bot.storage.vault import generate_key

    key = generate_key()
    env = {"DATABASE_URL": database_url, "TOKEN_ENCRYPTION_KEYS": key}
    runtime = Runtime(load_settings(None, environ=env), engine)
    with runtime.sessions() as s:
        pc = make_campaign(s)
        oauth_requests.remember(
            s,
            runtime.vault,
            provider="facebook_pages",
            key="pick-1",
            secret='[{"token": "page-token"}]',
            pledge_campaign_id=pc.id,
            now=NOW,
        )
    PledgeJobs(runtime, clock=lambda: NOW + oauth_requests.MAX_AGE / 2).readiness()
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OAuthRequest)) == 1  # still live
    PledgeJobs(
        runtime, clock=lambda: NOW + oauth_requests.MAX_AGE + timedelta(minutes=1)
    ).readiness()
    with runtime.sessions() as s:
        assert s.scalar(select(func.count()).select_from(OAuthRequest)) == 0


def test_a_long_variant_after_a_broken_one_is_named_by_its_own_number_and_line(
    tmp_path: Path,
) -> None:
    from tests.pledges.test_campaigns import GOOD, write

    bad = GOOD.replace(
        'variants: ["Reinstate the Fujitsu reps now."]',
        "variants:\n      - {not: text}\n      - " + "a" * 300,
    )
    path = write(tmp_path, bad)
    with pytest.raises(SpecError) as caught:
        load_pledge_files([path], default_timezone="UTC")
    where = {(p.field, p.where.line) for p in caught.value.problems}
    assert ("pledge_campaigns[1].variants[2]", 11) in where, where
    assert ("pledge_campaigns[1].variants[1]", 10) in where
    assert not any(
        "variant" in p.message and p.where.line == 10 and "characters" in p.message
        for p in caught.value.problems
    )
