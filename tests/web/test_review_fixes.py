"""Guarantees a review found missing on the campaign pages: no withdraw secret kept in the
cookie, no Page tokens left after the pick, rate limits that count attempts (not
addresses), one cut-off everywhere, and big or odd forms answered without a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.requests import Request
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.storage.models import OAuthRequest
from bot.web import signins
from bot.web.security import RateLimiter, client_address
from tests.support.web import (
    Clock,
    add_campaign,
    consent_facebook,
    csrf_of,
    local,
    pledge_x,
    start_facebook,
)


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


def test_a_whole_pledge_counts_once_against_the_rate_limit(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    client = make_client(rate_limit=(2, 60.0))
    assert pledge_x(client, "rep_a").startswith("/w/")
    assert pledge_x(client, "rep_b").startswith("/w/")  # start + callback: one attempt each
    csrf = csrf_of(client.get("/c/fujitsu").text)
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


def test_pledging_closes_on_the_page_at_the_same_moment_as_in_the_pledge_logic(
    make_client: Callable[..., TestClient], runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "soon", release_at=clock.now + timedelta(seconds=5))
    client = make_client()
    page = client.get("/c/soon")
    assert 'action="/c/soon/pledge/x"' not in page.text  # 5 s left, inside PREPARE
    add_campaign(runtime, "later")
    assert 'action="/c/later/pledge/x"' in client.get("/c/later").text
    csrf = csrf_of(client.get("/c/later").text)
    assert client.post("/c/soon/pledge/x", data={"csrf": csrf}).status_code == 410


def test_control_characters_in_an_edit_are_refused_with_a_message(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_bea")
    csrf = csrf_of(client.get(private).text)
    refused = client.post(private + "/edit", data={"csrf": csrf, "wording": "a\x00b", "email": ""})
    assert refused.status_code == 400 and "control characters" in refused.text


def test_a_facebook_length_wording_in_four_byte_characters_is_read_not_refused_as_too_big(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_cat")
    csrf = csrf_of(client.get(private).text)
    big = client.post(private + "/edit", data={"csrf": csrf, "wording": "\U0001f600" * 63_206})
    # read and checked: too long for X, said on the pledge page, not a 413
    assert big.status_code == 400 and "That is too long" not in big.text


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
