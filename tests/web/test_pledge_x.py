"""Pledging an X account through the sandbox's consent page, with the real tweepy flow."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.storage.models import Account, OAuthRequest, Pledge
from tests.support.web import consent_x, csrf_of, local, pledge_x, start_x


def _pledges(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Pledge)) or 0)


def test_it_pledges_an_x_account_and_shows_exactly_what_will_be_posted(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_ann")
    page = client.get(private + "?new=1")
    assert page.status_code == 200
    assert "Thank you: your pledge is in" in page.text
    assert "@rep_ann" in page.text
    assert (
        "Stand with the Fujitsu reps at 8:30\nhttps://union.example/fujitsu?utm_source=x"
        "&amp;utm_medium=social&amp;utm_campaign=fujitsu</blockquote>"
    ) in page.text
    assert f"http://testserver{private}" in page.text  # the private link, to keep
    assert _pledges(runtime) == 1
    progress = client.get("/c/fujitsu").text
    assert '<span data-testid="pledged">1</span>' in progress


def test_the_request_token_secret_stays_on_the_server_sealed(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    authorize = start_x(client)
    with runtime.sessions() as session:
        row = session.scalars(select(OAuthRequest)).one()
    assert row.provider == "x" and row.key in authorize and row.used_at is None
    secret = runtime.vault.open(row.secret).secret
    assert secret and secret not in row.secret
    assert secret not in authorize
    assert all(secret not in value for value in client.cookies.values())


def test_a_replayed_callback_is_refused_with_a_friendly_page(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_x(start_x(client), "rep_bob"))
    cookies_before = dict(client.cookies)
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400
    assert "Nothing was pledged" in again.text
    # Even with the session cookie as it was before (a copied cookie), the sign-in row
    # was used up on the first callback.
    client.cookies = cookies_before
    replayed = client.get(callback)
    assert replayed.status_code == 400
    assert "already used" in replayed.text
    assert _pledges(runtime) == 1


def test_a_tampered_verifier_is_refused_and_nothing_is_pledged(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_x(start_x(client), "rep_cat"))
    tampered = callback.replace("oauth_verifier=", "oauth_verifier=9")
    response = client.get(tampered)
    assert response.status_code == 400
    assert "X did not confirm this sign-in" in response.text
    assert _pledges(runtime) == 0


def test_a_tampered_oauth_token_is_refused(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_x(start_x(client), "rep_dan"))
    response = client.get(callback.replace("oauth_token=", "oauth_token=x"))
    assert response.status_code == 400
    assert "not valid" in response.text
    assert _pledges(runtime) == 0


def test_a_callback_from_another_browser_is_refused(
    client: TestClient, make_client, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_x(start_x(client), "rep_eve"))
    stranger = make_client()
    response = stranger.get(callback)
    assert response.status_code == 400
    assert _pledges(runtime) == 0


def test_cancel_on_x_consent_page_returns_a_friendly_page(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    callback = local(consent_x(start_x(client), "rep_fay", cancel=True))
    assert "denied=" in callback
    response = client.get(callback)
    assert response.status_code == 200
    assert "You cancelled: nothing was pledged" in response.text
    assert _pledges(runtime) == 0
    with runtime.sessions() as session:
        assert session.scalars(select(OAuthRequest)).one().used_at is not None


def test_the_supporter_token_is_stored_sealed(
    client: TestClient, runtime: Runtime, campaign: str, sandbox
) -> None:
    pledge_x(client, "rep_gus")
    with runtime.sessions() as session:
        account = session.scalars(select(Account)).one()
    creds = runtime.vault.open(account.credentials)
    assert account.owner_kind == "supporter" and account.handle == "rep_gus"
    assert creds.token not in account.credentials
    # and the token works on the sandbox: it is the supporter's real access token
    me = requests.get(f"{sandbox.url}/_sandbox/x/users", timeout=5).json()
    assert any(u["username"] == "rep_gus" for u in me)


def test_pledging_is_refused_after_the_release_started(
    client: TestClient, clock, runtime: Runtime, campaign: str
) -> None:
    from datetime import timedelta

    page = client.get("/c/fujitsu/pledge/x")
    clock.now += timedelta(days=3)
    response = client.post("/c/fujitsu/pledge/x", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 410
    assert "no longer taking pledges" in response.text


def test_a_cancel_link_from_another_browser_does_not_spoil_a_supporters_sign_in(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    supporter, stranger = make_client(), make_client()
    authorize = start_x(supporter)
    token = parse_qs(urlsplit(authorize).query)["oauth_token"][0]
    cancelled = stranger.get(f"/c/fujitsu/x/callback?denied={token}")
    assert cancelled.status_code == 200  # a friendly page, whoever asks
    done = supporter.get(local(consent_x(authorize, "rep_hal")))
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/w/")
