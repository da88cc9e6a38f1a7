"""The /_sandbox/ admin API and the timeline page."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import tweepy

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import x_client


def needs_facebook(sandbox: SandboxHandle) -> None:
    if sandbox.state is None or sandbox.state.fb is None:
        raise AssertionError("the sandbox started without its Graph part")


def test_app_credentials_are_published(sandbox: SandboxHandle) -> None:
    app = sandbox.admin.app()
    defaults = SandboxOptions()
    assert app["consumer_key"] == defaults.consumer_key
    assert app["consumer_secret"] == defaults.consumer_secret
    assert app["bearer_token"] == defaults.bearer_token
    assert app["fb_app_id"] == defaults.fb_app_id
    assert app["base_url"] == sandbox.url
    assert app["page_url"] == sandbox.url + "/_sandbox/"


def test_created_users_come_with_working_tokens(sandbox: SandboxHandle) -> None:
    user = sandbox.admin.create_x_user("@Volunteer_1", followers=42)
    assert user["username"] == "Volunteer_1"
    assert user["access_token"].startswith(user["id"] + "-")
    me = x_client(sandbox.url, user).get_me(user_auth=True).data
    assert me.username == "Volunteer_1"


@pytest.mark.parametrize("handle", ["", "has space", "x" * 16, "dash-ed"])
def test_bad_handles_are_refused(sandbox: SandboxHandle, handle: str) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        sandbox.admin.create_x_user(handle)
    assert caught.value.response.status_code == 400
    assert "error" in caught.value.response.json()


def test_handles_are_unique_ignoring_case(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    with pytest.raises(requests.HTTPError):
        sandbox.admin.create_x_user("ALICE")


def test_a_new_token_works_alongside_the_old_one(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    fresh = sandbox.admin.x_credentials(alice["id"], new_token=True)
    assert fresh["access_token"] != alice["access_token"]
    for creds in (alice, fresh):
        assert x_client(sandbox.url, creds).get_me(user_auth=True).data.username == "alice"
    assert sandbox.admin.x_credentials(alice["id"])["access_token"] == fresh["access_token"]


def test_posts_of_an_unknown_account_are_404(sandbox: SandboxHandle) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        sandbox.admin.posts("x", "42")
    assert caught.value.response.status_code == 404


def test_deleted_posts_are_listed_only_on_request(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    gone = client.create_tweet(text="gone", user_auth=True).data["id"]
    client.delete_tweet(gone, user_auth=True)
    assert sandbox.admin.posts("x", alice["id"]) == []
    (listed,) = sandbox.admin.posts("x", alice["id"], include_deleted=True)
    assert listed["deleted"] is True


def test_revoking_an_unknown_token_is_404(sandbox: SandboxHandle) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        sandbox.admin.revoke("x", "nope")
    assert caught.value.response.status_code == 404


def test_rate_limits_can_be_read_and_changed(sandbox: SandboxHandle) -> None:
    limits = sandbox.admin.set_rate_limits(x_posts_per_user=7)
    assert limits["x_posts_per_user"] == 7
    assert limits["x_posts_per_app"] == 10_000
    with pytest.raises(requests.HTTPError):
        sandbox.admin.set_rate_limits(x_posts_per_user=-1)
    with pytest.raises(requests.HTTPError):
        sandbox.admin.set_rate_limits(nonsense=1)


def test_reset_forgets_accounts_and_faults(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    sandbox.admin.set_faults("x", error_rate=1.0)
    sandbox.admin.set_rate_limits(x_posts_per_user=1)
    sandbox.admin.script("x", "*", ".", [{"status": 500}])
    sandbox.admin.reset()
    assert sandbox.admin.x_users() == []
    assert sandbox.admin.set_faults("x")["x"]["error_rate"] == 0.0
    assert sandbox.admin.set_rate_limits()["x_posts_per_user"] == 100
    assert requests.get(f"{sandbox.url}/_sandbox/script", timeout=5).json() == []


def test_the_clock_can_be_moved_forward(sandbox: SandboxHandle) -> None:
    before = sandbox.admin.advance_clock(0)["timestamp"]
    after = sandbox.admin.advance_clock(3600)["timestamp"]
    assert 3600 <= after - before < 3610


def test_the_timeline_page_shows_posts_escaped_and_refreshes(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    client.create_tweet(text='<script>alert("x")</script> & friends', user_auth=True)
    page = requests.get(f"{sandbox.url}/_sandbox/", timeout=5)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; friends" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    assert 'name="viewport"' in page.text  # readable on a phone
    assert "@alice" in page.text


def test_the_page_and_timeline_include_facebook_pages(sandbox: SandboxHandle) -> None:
    needs_facebook(sandbox)
    created = sandbox.admin.create_page("Friends of the <Park>", followers=77)
    assert created["page_id"] and created["page_token"] and created["user_token"]
    accounts = sandbox.admin.timeline()
    (page_account,) = [a for a in accounts if a["platform"] == "facebook"]
    assert page_account["id"] == created["page_id"]
    assert sandbox.admin.posts("facebook", created["page_id"]) == []
    html = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).text
    assert "Friends of the &lt;Park&gt;" in html


def test_facebook_tokens_can_be_revoked_through_the_common_route(sandbox: SandboxHandle) -> None:
    needs_facebook(sandbox)
    created = sandbox.admin.create_page("Revoked Page")
    sandbox.admin.revoke("facebook", created["page_token"])
    answer = requests.get(
        f"{sandbox.url}/v25.0/me",
        params={"access_token": created["page_token"]},
        timeout=5,
    )
    assert answer.status_code in (400, 401)
    assert answer.json()["error"]["code"] == 190


def test_admin_routes_are_never_faulted(sandbox: SandboxHandle) -> None:
    sandbox.admin.set_faults("x", error_rate=1.0)
    sandbox.admin.set_faults("facebook", error_rate=1.0)
    assert sandbox.admin.app()["consumer_key"]


def test_a_fixed_port_sandbox_uses_the_given_port_and_refuses_a_busy_one() -> None:
    from bot.sandbox.testing import free_port, running_sandbox

    port = free_port()
    options = SandboxOptions(port=port)
    with running_sandbox(options, fixed_port=True) as handle:
        assert handle.url == f"http://127.0.0.1:{port}"
        assert handle.admin.app()["base_url"] == handle.url
        with (
            pytest.raises(OSError),
            running_sandbox(SandboxOptions(port=port), fixed_port=True),
        ):
            pass
