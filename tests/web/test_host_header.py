"""The campaign pages build every absolute address from WEB_BASE_URL, never from the
request's Host header: a forged Host cannot reach a page, a share link, an OAuth callback
or a redirect."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from tests.support.web import TESTSERVER, csrf_of, pledge_x

FORGED = {"host": "evil.example", "x-forwarded-host": "evil.example"}


def test_the_x_sign_in_sends_supporters_back_to_web_base_url(
    client: TestClient, campaign: str
) -> None:
    page = client.get("/c/fujitsu/pledge/x", headers=FORGED)
    started = client.post("/c/fujitsu/pledge/x", data={"csrf": csrf_of(page.text)}, headers=FORGED)
    assert started.status_code == 303
    assert "evil.example" not in started.headers["location"]


def test_the_facebook_sign_in_names_web_base_url_as_its_redirect_uri(
    client: TestClient, campaign: str
) -> None:
    page = client.get("/c/fujitsu/pledge/facebook", headers=FORGED)
    started = client.post(
        "/c/fujitsu/pledge/facebook", data={"csrf": csrf_of(page.text)}, headers=FORGED
    )
    assert started.status_code == 303
    [redirect_uri] = parse_qs(urlsplit(started.headers["location"]).query)["redirect_uri"]
    assert redirect_uri == f"{TESTSERVER}/c/fujitsu/facebook/callback"


def test_pages_with_links_show_only_web_base_url(client: TestClient, campaign: str) -> None:
    private = pledge_x(client, "rep_host")
    for path in ("/c/fujitsu", private, "/c/fujitsu/thanks", "/", "/c/nope"):
        page = client.get(path, headers=FORGED)
        assert "evil.example" not in page.text, path
        assert "evil.example" not in page.headers.get("location", ""), path


def test_a_redirect_the_router_makes_names_web_base_url(client: TestClient, campaign: str) -> None:
    # Starlette redirects a path to its twin with a slash using the request's own URL.
    answer = client.get("/static", headers=FORGED)
    location = answer.headers.get("location", "")
    assert "evil.example" not in location
