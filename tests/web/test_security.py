"""CSRF, escaping, rate limits, cookies and headers on the campaign pages."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select
from starlette.requests import Request
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle
from bot.web.app import SESSION_COOKIE, create_web_app
from bot.web.security import RateLimiter, client_address
from tests.support.web import add_campaign, csrf_of, make_runtime, pledge_x

FORMS = [
    "/c/fujitsu/pledge/x",
    "/c/fujitsu/pledge/facebook",
    "/c/fujitsu/facebook/pages",
    "/w/some-secret",
    "/w/some-secret/edit",
]


@pytest.mark.parametrize("path", FORMS)
def test_a_form_without_a_csrf_token_is_refused_with_403(
    client: TestClient, campaign: str, path: str
) -> None:
    client.get("/c/fujitsu/pledge/x")  # the session exists and has a token
    response = client.post(path, data={"wording": "hi"})
    assert response.status_code == 403
    assert "This form has expired" in response.text


@pytest.mark.parametrize("path", FORMS)
def test_a_form_with_a_wrong_csrf_token_is_refused_with_403(
    client: TestClient, campaign: str, path: str
) -> None:
    page = client.get("/c/fujitsu/pledge/x")
    response = client.post(path, data={"csrf": csrf_of(page.text) + "x"})
    assert response.status_code == 403


def test_a_csrf_token_from_another_session_is_refused(
    client: TestClient, make_client, campaign: str
) -> None:
    theirs = csrf_of(make_client().get("/c/fujitsu/pledge/x").text)
    client.get("/c/fujitsu/pledge/x")
    assert client.post("/c/fujitsu/pledge/x", data={"csrf": theirs}).status_code == 403


def test_html_in_a_campaign_title_and_description_is_rendered_inert(
    runtime: Runtime, client: TestClient
) -> None:
    add_campaign(
        runtime,
        "xss",
        title='<script>alert("t")</script>',
        description="<img src=x onerror=alert(1)>",
        message={"x": "<b>bold</b> & <script>x()</script>"},
    )
    html = client.get("/c/xss").text
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'content="&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;"' in html  # og:title


def test_a_supporters_wording_with_html_is_rendered_inert(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_xss")
    page = client.get(private)
    wording = '"><script>alert(document.cookie)</script>'
    saved = client.post(private + "/edit", data={"csrf": csrf_of(page.text), "wording": wording})
    assert saved.status_code == 303
    html = client.get(private).text
    assert "<script>alert(document.cookie)" not in html
    assert "&#34;&gt;&lt;script&gt;alert(document.cookie)&lt;/script&gt;" in html


def test_pledge_endpoints_are_rate_limited_per_address_with_a_429_page(
    make_client, campaign: str
) -> None:
    client = make_client(rate_limit=(3, 60.0))
    csrf = csrf_of(client.get("/c/fujitsu/pledge/x").text)
    codes = [client.post("/c/fujitsu/pledge/x", data={"csrf": csrf}).status_code for _ in range(4)]
    assert codes == [303, 303, 303, 429]
    refused = client.post("/c/fujitsu/pledge/x", data={"csrf": csrf})
    assert "Too many attempts" in refused.text
    assert refused.headers["retry-after"]
    assert client.get("/c/fujitsu").status_code == 200  # reading is not limited


def test_the_rate_limiter_forgets_hits_after_the_window() -> None:
    now = [0.0]
    limiter = RateLimiter(2, 10.0, clock=lambda: now[0])
    assert limiter.hit("a") is None and limiter.hit("a") is None
    assert limiter.hit("a") == pytest.approx(10.0)
    assert limiter.hit("b") is None  # per address
    now[0] = 10.5
    assert limiter.hit("a") is None


def test_the_session_cookie_is_httponly_and_samesite_lax(client: TestClient, campaign: str) -> None:
    response = client.get("/c/fujitsu/pledge/x")  # the first page with a form
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()


def test_the_session_cookie_is_secure_when_the_pages_are_served_over_https(
    engine: Engine, sandbox: SandboxHandle
) -> None:
    runtime = make_runtime(engine, sandbox, "https://pledge.union.example")
    add_campaign(runtime)
    client = TestClient(create_web_app(runtime), base_url="https://testserver")
    cookie = client.get("/c/fujitsu/pledge/x").headers["set-cookie"].lower()
    assert "; secure" in cookie


def test_pages_send_headers_that_keep_the_withdraw_secret_and_frames_out(
    client: TestClient, campaign: str
) -> None:
    headers = client.get("/c/fujitsu").headers
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


def test_no_token_is_ever_rendered(client: TestClient, runtime: Runtime, campaign: str) -> None:

    from bot.storage.models import Account

    private = pledge_x(client, "rep_tok")
    with runtime.sessions() as session:
        creds = runtime.vault.open(session.scalars(select(Account)).one().credentials)
    for path in (private, private + "?new=1", "/c/fujitsu"):
        html = client.get(path).text
        assert creds.token not in html and creds.secret not in html


def test_no_token_reaches_the_database_file_or_the_logs_in_plaintext(
    client: TestClient, runtime: Runtime, campaign: str, caplog: pytest.LogCaptureFixture
) -> None:
    import logging
    from pathlib import Path

    from bot.storage.models import Account

    caplog.set_level(logging.INFO)
    private = pledge_x(client, "rep_plain")
    assert client.post(private + "/edit", data={"csrf": "forged"}).status_code == 403  # logged
    client.post(
        private + "/edit",
        data={"csrf": csrf_of(client.get(private).text), "email": "plain@union.example"},
    )
    with runtime.sessions() as session:
        creds = runtime.vault.open(session.scalars(select(Account)).one().credentials)
    # The sandbox (X's side) and httpx (TestClient: the supporter's browser) are not us.
    ours = [r for r in caplog.records if not r.name.startswith(("bot.sandbox", "httpx"))]
    logged = "\n".join(r.getMessage() for r in ours)
    assert creds.token not in logged and creds.secret not in logged
    assert private.split("/w/")[1] not in logged  # nor the withdraw secret
    database = runtime.engine.url.database
    if runtime.engine.url.get_backend_name() == "sqlite" and database:
        raw = Path(database).read_bytes()
        for plain in (creds.token, creds.secret, "plain@union.example", private[3:]):
            assert plain.encode() not in raw


def _cookie(client: TestClient) -> dict[str, object]:
    raw = client.cookies["clarion_session"].split(".")[0]
    data: dict[str, object] = json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    return data


def test_the_session_cookie_does_not_keep_the_withdraw_secret(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    client = make_client()
    private = pledge_x(client, "rep_ann")
    secret = private.split("/w/")[1]
    assert secret not in json.dumps(_cookie(client))
    # the next person on the same stall tablet finds no manage links
    assert private not in client.get("/c/anything/thanks").text
    assert private not in client.get("/c/fujitsu/thanks").text


def test_a_whole_pledge_counts_once_against_the_rate_limit(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    client = make_client(rate_limit=(2, 60.0))
    assert pledge_x(client, "rep_a").startswith("/w/")
    assert pledge_x(client, "rep_b").startswith("/w/")  # start + callback: one attempt each
    csrf = csrf_of(client.get("/c/fujitsu/pledge/x").text)
    assert client.post("/c/fujitsu/pledge/x", data={"csrf": csrf}).status_code == 429


def _request_from(host: str) -> Request:
    return Request({"type": "http", "client": (host, 4321), "headers": [], "method": "POST"})


def test_ipv6_clients_are_limited_by_their_slash_64() -> None:
    limiter = RateLimiter(2, 60.0, clock=lambda: 0.0)
    keys = [client_address(_request_from(f"2001:db8:1:2::{n:x}")) for n in range(1, 4)]
    assert len(set(keys)) == 1 and keys[0] == "2001:db8:1:2::/64"
    assert [limiter.hit(k) is None for k in keys] == [True, True, False]
    assert client_address(_request_from("2001:db8:1:3::1")) != keys[0]
    assert client_address(_request_from("203.0.113.7")) == "203.0.113.7"
    assert client_address(_request_from("::ffff:203.0.113.7")) == "203.0.113.7"
