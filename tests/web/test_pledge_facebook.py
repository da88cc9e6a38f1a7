"""Pledging Facebook Pages through the sandbox's Login dialog and the Page picker."""

from __future__ import annotations

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.storage.models import Account, Pledge
from tests.support.web import consent_facebook, csrf_of, local, start_facebook


def _pledged_pages(runtime: Runtime) -> list[tuple[str, int | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Account.handle, Pledge.followers).join(Pledge, Pledge.account_id == Account.id)
        ).all()
    return [(handle, followers) for handle, followers in rows]


def test_it_pledges_the_page_the_supporter_picks(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    dialog = start_facebook(client)
    assert "/dialog/oauth" in dialog and "state=" in dialog
    # posting, and reading the post's reactions and views after the release
    assert "pages_manage_posts" in dialog and "read_insights" in dialog
    back = client.get(local(consent_facebook(dialog, "Ann Rep", "Ann's Bakery", followers=250)))
    assert back.status_code == 303
    picker = client.get(back.headers["location"])
    assert picker.status_code == 200
    assert "Ann&#39;s Bakery (250 followers)" in picker.text
    assert "not to personal profiles" in picker.text
    assert "access_token" not in picker.text
    page_id = picker.text.split('name="page" value="')[1].split('"')[0]
    done = client.post(
        "/c/fujitsu/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_id}
    )
    assert done.status_code == 303
    confirmation = client.get(done.headers["location"])
    assert "Ann&#39;s Bakery" in confirmation.text
    assert "Stand with the reps" in confirmation.text
    assert "utm_source=facebook" in confirmation.text  # the link, attached to the post
    assert _pledged_pages(runtime) == [("Ann's Bakery", 250)]


def test_a_person_with_no_pages_is_told_apps_can_post_only_to_pages(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    back = client.get(local(consent_facebook(start_facebook(client), "No Pages Person")))
    picker = client.get(back.headers["location"])
    assert "does not run any Pages" in picker.text
    assert _pledged_pages(runtime) == []


def test_cancel_on_facebook_dialog_returns_a_friendly_page(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    back = client.get(local(consent_facebook(start_facebook(client), "Cy", allow=False)))
    assert back.status_code == 200
    assert "You cancelled: nothing was pledged" in back.text
    assert _pledged_pages(runtime) == []


def test_a_forged_state_is_refused(client: TestClient, runtime: Runtime, campaign: str) -> None:
    callback = local(consent_facebook(start_facebook(client), "Di", "Di's Page"))
    forged = callback.replace("state=", "state=forged")
    response = client.get(forged)
    assert response.status_code == 400
    assert "not valid" in response.text
    assert _pledged_pages(runtime) == []


def test_a_replayed_facebook_callback_is_refused(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_facebook(start_facebook(client), "Ed", "Ed's Page"))
    cookies_before = dict(client.cookies)
    assert client.get(callback).status_code == 303
    client.cookies = cookies_before
    again = client.get(callback)
    assert again.status_code == 400
    assert "already used" in again.text


def test_the_page_choice_can_be_used_once(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    back = client.get(local(consent_facebook(start_facebook(client), "Flo", "Flo's Page")))
    picker = client.get(back.headers["location"])
    page_id = picker.text.split('name="page" value="')[1].split('"')[0]
    form = {"csrf": csrf_of(picker.text), "page": page_id}
    cookies_before = dict(client.cookies)
    assert client.post("/c/fujitsu/facebook/pages", data=form).status_code == 303
    client.cookies = cookies_before
    again = client.post("/c/fujitsu/facebook/pages", data=form)
    assert again.status_code == 400
    assert len(_pledged_pages(runtime)) == 1
