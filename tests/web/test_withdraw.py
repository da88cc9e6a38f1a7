"""The private link: confirmation, wording and email edits, withdrawing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.pledges.pledging import find_campaign, open_email
from bot.pledges.release import release
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, Pledge, PledgeState
from tests.support.web import Clock, add_campaign, csrf_of, pledge_x


def _pledge(runtime: Runtime) -> tuple[Pledge, Account]:
    with runtime.sessions() as session:
        pledge = session.scalars(select(Pledge)).one()
        account = session.get(Account, pledge.account_id)
        assert account is not None
        session.expunge_all()
        return pledge, account


def test_the_withdraw_link_withdraws_and_deletes_tokens_and_email(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_wd")
    page = client.get(private)
    client.post(private + "/edit", data={"csrf": csrf_of(page.text), "email": "ann@union.example"})
    assert _pledge(runtime)[0].email
    page = client.get(private)
    assert "Withdraw my pledge" in page.text
    done = client.post(private, data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert done.status_code == 200
    assert "Your pledge is withdrawn" in done.text
    assert "Nothing will be posted from @rep_wd for" in done.text  # as X shows it
    pledge, account = _pledge(runtime)
    assert pledge.state == PledgeState.WITHDRAWN and pledge.email is None
    assert account.credentials == ""
    assert '<span data-testid="pledged">0</span>' in client.get("/c/fujitsu").text
    assert "This pledge was withdrawn" in client.get(private).text


def test_the_wording_box_promises_the_campaign_link_only_when_there_is_one(
    client: TestClient, runtime: Runtime
) -> None:
    add_campaign(runtime, "with-link")
    add_campaign(runtime, "no-link", link=None)
    promise = "(the campaign link is added after it)"
    assert promise in client.get(pledge_x(client, "rep_link", "with-link")).text
    assert promise not in client.get(pledge_x(client, "rep_nolink", "no-link")).text


def test_withdrawing_asks_for_confirmation_first(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_conf")
    page = client.get(private)
    response = client.post(private, data={"csrf": csrf_of(page.text)})
    assert response.status_code == 400
    assert "Tick the box to confirm" in response.text
    assert _pledge(runtime)[0].state == PledgeState.ACTIVE


def test_a_supporter_edits_the_wording_and_sees_what_will_be_posted(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_edit")
    page = client.get(private)
    saved = client.post(
        private + "/edit", data={"csrf": csrf_of(page.text), "wording": "I back the reps!"}
    )
    assert saved.status_code == 303
    html = client.get(saved.headers["location"]).text
    assert "Saved." in html
    assert '<blockquote data-testid="text">I back the reps!\nhttps://union.example' in html
    assert _pledge(runtime)[0].wording == "I back the reps!"


def test_a_wording_too_long_for_x_is_refused_with_the_reason(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_long")
    page = client.get(private)
    response = client.post(
        private + "/edit", data={"csrf": csrf_of(page.text), "wording": "a" * 300}
    )
    assert response.status_code == 400
    assert 'role="alert"' in response.text and "your wording" in response.text
    assert _pledge(runtime)[0].wording is None


def test_a_bad_email_is_refused(client: TestClient, runtime: Runtime, campaign: str) -> None:
    private = pledge_x(client, "rep_mail")
    page = client.get(private)
    response = client.post(private + "/edit", data={"csrf": csrf_of(page.text), "email": "nope"})
    assert response.status_code == 400
    assert "email address does not look right" in response.text


def test_an_unknown_link_shows_a_friendly_404(client: TestClient, campaign: str) -> None:
    response = client.get("/w/not-a-real-secret")
    assert response.status_code == 404
    assert "This link does not match a pledge" in response.text


def test_withdrawing_is_refused_once_the_release_has_started(
    client: TestClient, clock: Clock, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_late")
    page = client.get(private)
    clock.now += timedelta(days=3)
    late = client.get(private)
    assert "can no longer be changed or withdrawn" in late.text
    response = client.post(private, data={"csrf": csrf_of(page.text), "confirm": "yes"})
    assert response.status_code == 409
    assert _pledge(runtime)[0].state == PledgeState.ACTIVE


def test_after_a_missed_goal_the_pledge_page_says_nothing_will_be_posted(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "missed", goal=5)  # all-or-nothing
    private = pledge_x(client, "rep_dee", slug="missed")
    with runtime.sessions() as session:
        pc = find_campaign(session, "missed")
        assert pc is not None
        clock.now = pc.release_at
        assert release(session, pc.id, pc.release_at).state == "goal_missed"
    page = client.get(private)
    assert page.status_code == 200
    assert "goal was not reached" in page.text and "nothing will be posted" in page.text
    assert "release has started" not in page.text


def test_a_refused_wording_is_given_back_in_the_box_to_shorten_not_lost(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_jo")
    typed = "Fujitsu must reinstate the reps, and here is why: " + "b" * 260
    refused = client.post(
        private + "/edit", data={"csrf": csrf_of(client.get(private).text), "wording": typed}
    )
    assert refused.status_code == 400
    box = re.search(r'<textarea id="wording"[^>]*>([^<]*)</textarea>', refused.text)
    assert box and box.group(1) == typed
    assert 'aria-invalid="true"' in refused.text and 'aria-describedby="edit-error"' in refused.text


def test_control_characters_in_an_edit_are_refused_with_a_message(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_bea")
    csrf = csrf_of(client.get(private).text)
    # (A NUL is refused before the page reads the form: tests/web/test_nul_characters.py.)
    refused = client.post(private + "/edit", data={"csrf": csrf, "wording": "a\x07b", "email": ""})
    assert refused.status_code == 400 and "control characters" in refused.text


def test_a_facebook_length_wording_in_four_byte_characters_is_read_not_refused_as_too_big(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_cat")
    csrf = csrf_of(client.get(private).text)
    big = client.post(private + "/edit", data={"csrf": csrf, "wording": "\U0001f600" * 63_206})
    # read and checked: too long for X, said on the pledge page, not a 413
    assert big.status_code == 400 and "That is too long" not in big.text


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("ann@union.example, boss@rival.example", "more than one address"),
        ("ann@union.example;boss@rival.example", "more than one address"),
        ("ann,boss@rival.example", "more than one address"),
        ("boss%40rival.example@union.example", "route mail to another address"),
        ("boss%rival.example@union.example", "route mail to another address"),
        ("rival!boss@union.example", "route mail to another address"),
        ("boss\uff20rival.example@union.example", "look-alike of @"),
    ],
)
def test_an_email_box_holding_more_than_one_address_is_refused_with_the_reason(
    client: TestClient, runtime: Runtime, campaign: str, typed: str, reason: str
) -> None:
    private = pledge_x(client, "rep_many")
    page = client.get(private)
    response = client.post(private + "/edit", data={"csrf": csrf_of(page.text), "email": typed})
    assert response.status_code == 400
    assert "email address does not look right" in response.text and reason in response.text
    assert _pledge(runtime)[0].email is None


def test_one_plain_address_is_kept_with_its_domain_in_lower_case(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_one")
    page = client.get(private)
    response = client.post(
        private + "/edit",
        data={"csrf": csrf_of(page.text), "email": " Ann.Lee+pledge@Union.Example "},
    )
    assert response.status_code < 400
    assert open_email(runtime.vault, _pledge(runtime)[0].email) == "Ann.Lee+pledge@union.example"
