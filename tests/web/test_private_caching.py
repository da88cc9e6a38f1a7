"""No browser or proxy keeps a page that holds one person's data; public pages stay
cacheable."""

from __future__ import annotations

import httpx
from starlette.testclient import TestClient

from tests.support.web import consent_facebook, csrf_of, local, pledge_x, start_facebook


def _no_store(response: httpx.Response) -> bool:
    return response.headers.get("cache-control") == "no-store"


def test_every_answer_about_a_pledge_is_no_store(client: TestClient, campaign: str) -> None:
    private = pledge_x(client, "rep_cache")
    page = client.get(private)
    assert page.status_code == 200 and _no_store(page)
    csrf = csrf_of(page.text)
    saved = client.post(private + "/edit", data={"csrf": csrf, "wording": "My words"})
    assert saved.status_code == 303 and _no_store(saved)  # its Location holds the link
    refused = client.post(private + "/edit", data={"csrf": csrf, "email": "a@x.org, b@y.org"})
    assert refused.status_code == 400 and _no_store(refused)
    withdrawn = client.post(private, data={"csrf": csrf, "confirm": "yes"})
    assert withdrawn.status_code == 200 and "rep_cache" in withdrawn.text
    assert _no_store(withdrawn)
    assert _no_store(client.get(private))  # "already withdrawn"
    assert _no_store(client.get("/w/not-a-real-secret"))


def test_the_facebook_pages_picker_with_a_persons_pages_is_no_store(
    client: TestClient, campaign: str
) -> None:
    back = client.get(local(consent_facebook(start_facebook(client), "Ann Rep", "Ann's Bakery")))
    assert back.status_code == 303 and _no_store(back)
    picker = client.get(back.headers["location"])
    assert "Ann&#39;s Bakery" in picker.text
    assert _no_store(picker)


def test_the_public_campaign_page_and_stylesheets_stay_cacheable(
    client: TestClient, campaign: str
) -> None:
    page = client.get("/c/fujitsu")
    assert page.status_code == 200
    assert "max-age" in page.headers["cache-control"]
    css = client.get("/static/" + page.text.split('href="/static/')[1].split('"')[0])
    assert css.status_code == 200 and "no-store" not in css.headers.get("cache-control", "")
