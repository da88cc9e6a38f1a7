"""Pledging Facebook Pages through the sandbox's Login dialog and the Page picker."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.testclient import TestClient

from bot.pledges.pledging import find_campaign
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, OAuthRequest, Pledge
from bot.web import signins
from tests.support.web import Clock, add_campaign, consent_facebook, csrf_of, local, start_facebook


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


class ClosesAfterFirstPledge:
    """The app's clock: open until one pledge is stored, then past the cut-off (as if the
    release had been written between two Pages of one pick)."""

    def __init__(self, runtime: Runtime, open_at: datetime, closed_at: datetime) -> None:
        self.runtime, self.open_at, self.closed_at = runtime, open_at, closed_at

    def __call__(self) -> datetime:
        with self.runtime.sessions() as session:
            pledged = session.scalar(select(func.count()).select_from(Pledge))
        return self.closed_at if pledged else self.open_at


def test_pages_pledged_before_a_later_page_is_refused_still_get_their_private_link(
    make_client: Callable[..., TestClient], runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "pages")
    with runtime.sessions() as session:
        pc = find_campaign(session, "pages")
        assert pc is not None
        release_at = pc.release_at
    client = make_client()
    # One person who runs two Pages: the first consent creates them and Page one, the
    # second (same person) adds Page two.
    first = start_facebook(client, "pages")
    consent_facebook(first, "Gwen Twopages", "Gwen's Cafe")
    dialog = start_facebook(client, "pages")
    consent = requests.get(dialog, timeout=10).text
    user_id = re.search(r"value='([^']+)'(?: checked)?> Gwen Twopages", consent)
    assert user_id
    back = requests.post(
        dialog,
        data={"user_id": user_id.group(1), "page_name": "Gwen's Shop", "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    picked = client.get(local(back.headers["location"].split("#")[0]))
    picker = client.get(picked.headers["location"])
    page_ids = re.findall(r'name="page" value="([^"]+)"', picker.text)
    assert len(page_ids) == 2
    client.app.state.clock = ClosesAfterFirstPledge(  # type: ignore[attr-defined]
        runtime, clock.now, release_at
    )
    done = client.post(
        "/c/pages/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_ids}
    )
    with runtime.sessions() as session:
        pledged = session.scalar(select(func.count()).select_from(Pledge))
    assert pledged == 1, done.text  # the first Page is in and will post
    assert done.status_code == 303, done.text
    private = client.get(done.headers["location"])
    assert private.status_code == 200 and "Gwen&#39;s" in private.text


def test_ticking_more_pages_than_the_thanks_page_can_list_is_refused_before_pledging(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    # The private links of a multi-Page pledge ride in the session cookie, at most
    # signins.MAX_PAGES_PER_PICK of them: a Page pledged beyond that would have no link.
    dialog = start_facebook(client)
    consent_facebook(dialog, "Ivy Manypages", "Branch 0")
    user_id = re.search(
        r"value='([^']+)'(?: checked)?> Ivy Manypages", requests.get(dialog, timeout=10).text
    )
    assert user_id
    for number in range(1, signins.MAX_PAGES_PER_PICK + 1):
        back = requests.post(
            dialog,
            data={
                "user_id": user_id.group(1),
                "page_name": f"Branch {number}",
                "decision": "allow",
            },
            allow_redirects=False,
            timeout=10,
        )
    picked = client.get(local(back.headers["location"].split("#")[0]))
    picker = client.get(picked.headers["location"])
    page_ids = re.findall(r'name="page" value="([^"]+)"', picker.text)
    assert len(page_ids) == signins.MAX_PAGES_PER_PICK + 1
    refused = client.post(
        "/c/fujitsu/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_ids}
    )
    assert refused.status_code == 400
    assert f"at most {signins.MAX_PAGES_PER_PICK} Pages" in refused.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Pledge)) == 0
    # the choice is still there: ticking fewer goes through, every Page with its link
    done = client.post(
        "/c/fujitsu/facebook/pages",
        data={"csrf": csrf_of(picker.text), "page": page_ids[: signins.MAX_PAGES_PER_PICK]},
    )
    assert done.status_code == 303
    thanks = client.get(done.headers["location"])
    assert thanks.text.count("manage this pledge") == signins.MAX_PAGES_PER_PICK


def test_page_tokens_are_not_kept_once_the_supporter_has_picked(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    back = client.get(local(consent_facebook(start_facebook(client), "Ann Rep", "Ann's Bakery")))
    picker = client.get(back.headers["location"])
    page_id = picker.text.split('name="page" value="')[1].split('"')[0]
    done = client.post(
        "/c/fujitsu/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_id}
    )
    assert done.status_code == 303
    with runtime.sessions() as s:
        rows = s.scalars(select(OAuthRequest).where(OAuthRequest.provider == "facebook_pages"))
        assert [r.secret for r in rows] == [""]
    # a replayed pick still finds it used
    again = client.post(
        "/c/fujitsu/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_id}
    )
    assert again.status_code == 400


def test_several_pages_links_are_shown_once_for_their_campaign_and_expire() -> None:
    now = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    request = Request({"type": "http", "session": {}, "headers": [], "method": "POST"})
    to = signins.after_pledge(request, "fujitsu", ["s1", "s2"], now)
    assert to.headers["location"] == "/c/fujitsu/thanks"
    assert signins.take_pledged(request, "other", now) == []  # another campaign: dropped
    signins.after_pledge(request, "fujitsu", ["s1", "s2"], now)
    assert signins.take_pledged(request, "fujitsu", now) == ["s1", "s2"]
    assert signins.take_pledged(request, "fujitsu", now) == []  # once only
    signins.after_pledge(request, "fujitsu", ["s1", "s2"], now)
    later = now + signins.PLEDGED_FOR + timedelta(seconds=1)
    assert signins.take_pledged(request, "fujitsu", later) == []
    one = signins.after_pledge(request, "fujitsu", ["s1"], now)
    assert one.headers["location"] == "/w/s1?new=1" and request.session == {}
