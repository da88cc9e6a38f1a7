"""MastodonPlatform: our status request and the real Mastodon.py against sandbox instances
over loopback HTTP."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.platforms import PLATFORM_NAMES, platform_class
from bot.platforms import base as errors
from bot.platforms.base import (
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from bot.platforms.http import ANY_HOST
from bot.platforms.mastodon import MastodonPlatform
from tests.platforms.mastodon.sandbox_accounts import (
    SCRIPTED_ROWS,
    host_of,
    new_account,
    texts_on,
)

STATUSES = r"^/api/v1/statuses$"
EARLIER = timedelta(minutes=5)


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()
    sandbox.admin.set_faults("mastodon", error_rate=0, accept_then_drop_rate=0)


@pytest.fixture
def md(sb):
    return MastodonPlatform(routes={ANY_HOST: sb.url}, timeout=5.0)


@pytest.fixture
def account(sb):
    return new_account(sb)


def since():
    return datetime.now(UTC) - EARLIER


def test_the_registry_names_mastodon_after_facebook():
    assert PLATFORM_NAMES.index("mastodon") > PLATFORM_NAMES.index("facebook")
    assert platform_class("mastodon") is MastodonPlatform


def test_it_publishes_a_status_and_returns_its_id_and_url(sb, md, account):
    published = md.publish(account, "Reinstate the reps ✊ & <now>")
    assert published.platform_id
    assert published.url == (
        f"{account.server}/@{md.verify(account).handle.split('@')[0]}/{published.platform_id}"
    )
    assert texts_on(sb, account) == ["Reinstate the reps ✊ & <now>"]


def test_the_same_idempotency_key_gives_the_same_status_and_posts_once(sb, md, account):
    one = md.publish(account, "Once only", idempotency_key="clarion-7-0-1")
    two = md.publish(account, "Once only", idempotency_key="clarion-7-0-1")
    three = md.publish(account, "Once only", idempotency_key="clarion-8-0-1")
    assert one.platform_id == two.platform_id != three.platform_id
    assert texts_on(sb, account) == ["Once only", "Once only"]


def test_a_thread_is_a_chain_of_replies(sb, md, account):
    first = md.publish(account, "1/ Strike on Monday")
    second = md.publish(account, "2/ Bring a friend", reply_to=first.platform_id)
    statuses = sb.admin.mastodon_statuses(host_of(account), account.platform_user_id)
    assert [s["in_reply_to_id"] for s in statuses] == [first.platform_id, None]
    assert second.platform_id == statuses[0]["id"]


def test_a_reply_to_a_deleted_status_is_permanent(md, account):
    with pytest.raises(PermanentError, match="no such status"):
        md.publish(account, "2/ orphan", reply_to="999")


def test_a_link_is_added_on_its_own_line_unless_already_there(sb, md, account):
    md.publish(account, "Sign the petition", link="https://union.test/p")
    md.publish(account, "Read https://union.test/q now", link="https://union.test/q")
    assert texts_on(sb, account) == [
        "Read https://union.test/q now",
        "Sign the petition\nhttps://union.test/p",
    ]


def test_it_refuses_to_hold_a_status_for_later_and_posts_nothing(sb, md, account):
    with pytest.raises(PermanentError, match="at the time itself"):
        md.publish(account, "later", publish_at=datetime.now(UTC) + timedelta(days=1))
    assert texts_on(sb, account) == []


def test_a_text_over_the_instances_own_limit_is_refused_with_422(sb, md):
    sb.admin.mastodon_instance("tiny.social", max_characters=40)
    creds = new_account(sb, host="tiny.social")
    assert md.instance_limits("tiny.social").max_characters == 40
    md.publish(creds, "x" * 16, link="https://union.test/a-very-long-path/that/counts/23")
    with pytest.raises(PermanentError, match="character limit of 40"):
        md.publish(creds, "y" * 41)


def test_the_instance_limit_comes_from_the_instance_and_counts_links_as_23(sb, md):
    sb.admin.mastodon_instance("roomy.social", max_characters=5000)
    assert md.instance_limits("roomy.social").max_characters == 5000
    assert md.check_text("roomy.social", "z" * 4999) is None
    assert "limit is 500" in md.check_text("union.social", "z" * 501)
    link = "https://union.org.uk/" + "l" * 200  # a TLD Mastodon links (twitter-text list)
    assert md.check_text("union.social", "z" * 476 + " " + link) is None


def test_find_recent_finds_our_status_by_the_text_as_sent_link_included(md, account):
    published = md.publish(account, "Picket at 7 & <gate 2>", link="https://union.test/p?a=1&b=2")
    found = md.find_recent(
        account, "Picket at 7 & <gate 2>", since(), link="https://union.test/p?a=1&b=2"
    )
    assert found is not None and found.platform_id == published.platform_id
    assert found.url == published.url


def test_find_recent_does_not_take_a_status_with_another_link_for_ours(md, account):
    md.publish(account, "Picket at 7", link="https://union.test/a")
    assert md.find_recent(account, "Picket at 7", since(), link="https://union.test/b") is None


def test_find_recent_does_not_find_a_status_that_is_not_there_or_is_older(md, account):
    md.publish(account, "Old news")
    assert md.find_recent(account, "Never posted", since()) is None
    assert md.find_recent(account, "Old news", datetime.now(UTC) + timedelta(minutes=1)) is None


def test_find_recent_follows_the_pages_of_the_account(sb, md, account):
    md.publish(account, "The one we look for")
    for n in range(45):
        md.publish(account, f"filler {n}")
    found = md.find_recent(account, "The one we look for", since())
    assert found is not None


def test_verify_says_whose_token_it_is_with_followers(sb, md):
    creds = new_account(sb, host="verify.social", followers=321)
    who = md.verify(creds)
    assert who.platform_user_id == f"{creds.platform_user_id}@verify.social"
    assert who.handle.endswith("@verify.social")
    assert who.followers == 321


def test_a_revoked_token_is_an_auth_error_that_does_not_quote_it(sb, md, account):
    sb.admin.mastodon_revoke(host_of(account), account.token)
    with pytest.raises(AuthError) as caught:
        md.publish(account, "after revoking")
    assert account.token not in caught.value.message
    with pytest.raises(AuthError):
        md.verify(account)


def test_credentials_without_a_server_ask_for_reconnecting(md, account):
    creds = Credentials(account.token, platform_user_id=account.platform_user_id)
    with pytest.raises(AuthError, match="connect it again"):
        md.publish(creds, "nowhere")


def test_the_instances_rate_limit_waits_until_its_reset(sb, md):
    sb.admin.mastodon_instance("busy.social", statuses_per_window=2, statuses_window_s=120)
    creds = new_account(sb, host="busy.social")
    md.publish(creds, "one")
    md.publish(creds, "two")
    with pytest.raises(TransientError) as caught:
        md.publish(creds, "three")
    assert caught.value.rate_limited
    assert 60 < caught.value.retry_after <= 122


@pytest.mark.parametrize(("answer", "kind", "attributes"), SCRIPTED_ROWS, ids=lambda v: str(v)[:30])
def test_each_error_row_is_classified_over_real_http(sb, md, account, answer, kind, attributes):
    sb.admin.script("mastodon", "POST", STATUSES, [answer])
    with pytest.raises(getattr(errors, kind)) as caught:
        md.publish(account, "scripted")
    assert type(caught.value).__name__ == kind
    for name, value in attributes.items():
        assert getattr(caught.value, name) == value


def test_a_rate_limit_carries_the_wait_until_x_ratelimit_reset(sb, md, account):
    reset = datetime.fromtimestamp(time.time() + 90, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    answer = {
        "status": 429,
        "body": {"error": "Too many requests"},
        "headers": {"X-RateLimit-Reset": reset},
    }
    sb.admin.script("mastodon", "POST", STATUSES, [answer])
    with pytest.raises(TransientError) as caught:
        md.publish(account, "limited")
    assert 80 < caught.value.retry_after <= 92  # Date has whole seconds


def test_a_refused_connection_is_transient(account, closed_port_url):
    md = MastodonPlatform(routes={ANY_HOST: closed_port_url}, timeout=2.0)
    with pytest.raises(TransientError, match="could not connect"):
        md.publish(account, "nobody home")


@pytest.mark.parametrize("action", ["drop", "reset", "accept_then_drop"])
def test_a_connection_lost_after_sending_is_an_unknown_outcome(sb, md, account, action):
    sb.admin.script("mastodon", "POST", STATUSES, [{"action": action}])
    with pytest.raises(OutcomeUnknown):
        md.publish(account, f"lost {action}")


def test_a_timeout_after_sending_is_an_unknown_outcome(sb, account):
    md = MastodonPlatform(routes={ANY_HOST: sb.url}, timeout=0.5)
    sb.admin.script("mastodon", "POST", STATUSES, [{"action": "timeout", "seconds": 2}])
    with pytest.raises(OutcomeUnknown):
        md.publish(account, "slow")


def test_a_status_accepted_then_dropped_is_found_and_a_retry_with_its_key_posts_nothing(
    sb, md, account
):
    sb.admin.script("mastodon", "POST", STATUSES, [{"action": "accept_then_drop"}])
    with pytest.raises(OutcomeUnknown):
        md.publish(account, "went out", idempotency_key="clarion-1-0-9")
    assert md.find_recent(account, "went out", since()) is not None
    again = md.publish(account, "went out", idempotency_key="clarion-1-0-9")
    assert texts_on(sb, account) == ["went out"]
    assert again.platform_id == md.find_recent(account, "went out", since()).platform_id


def test_a_server_error_from_the_instances_faults_may_have_posted(sb, md, account):
    sb.admin.set_faults("mastodon", error_rate=1.0)
    with pytest.raises(TransientError) as caught:
        md.publish(account, "flaky")
    assert caught.value.maybe_sent


def test_a_lost_answer_while_reading_statuses_is_transient_not_unknown(sb, md, account):
    sb.admin.script("mastodon", "GET", r"/statuses$", [{"action": "reset"}])
    with pytest.raises(TransientError):
        md.find_recent(account, "anything", since())


def test_the_oauth_round_trip_gives_a_token_with_the_least_scopes(sb, md):
    sb.admin.create_mastodon_account("oauth.social", "supporter")
    redirect = "https://clarion.test/mastodon/callback"
    client_id, client_secret = md.register_app("oauth.social", redirect)
    url = md.authorize_url("oauth.social", client_id, redirect, "state-123")
    assert url.startswith(sb.url + "/_host/oauth.social/oauth/authorize?")
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["read:accounts read:statuses write:statuses"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and 'name="username"' in page.text
    answer = requests.post(
        url,
        data={"username": "supporter", "decision": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["location"]).query)
    assert back["state"] == ["state-123"]
    token = md.exchange_code("oauth.social", client_id, client_secret, redirect, back["code"][0])
    creds = Credentials(token, server="https://oauth.social")
    who = md.verify(creds)
    assert who.handle == "supporter@oauth.social"
    md.publish(
        Credentials(token, platform_user_id=who.platform_user_id, server="https://oauth.social"),
        "I support this",
    )
    with pytest.raises(AuthError, match="sign in again"):
        md.exchange_code("oauth.social", client_id, client_secret, redirect, back["code"][0])


def test_a_denied_authorization_comes_back_as_access_denied(sb, md):
    redirect = "https://clarion.test/cb"
    client_id, _ = md.register_app("deny.social", redirect)
    url = md.authorize_url("deny.social", client_id, redirect, "s")
    answer = requests.post(
        url, data={"username": "x", "decision": "deny"}, allow_redirects=False, timeout=5
    )
    assert "error=access_denied" in answer.headers["location"]


def test_instances_are_told_apart_by_host(sb, md):
    a = new_account(sb, host="one.social")
    b = new_account(sb, host="two.social")
    md.publish(a, "on one")
    wrong_server = Credentials(a.token, platform_user_id=a.platform_user_id, server=b.server)
    with pytest.raises(AuthError):
        md.publish(wrong_server, "token from another instance")
    assert texts_on(sb, a) == ["on one"]
    assert re.match(r"https://one\.social/@", md.find_recent(a, "on one", since()).url)


def test_a_token_is_revoked_only_by_the_app_it_was_issued_to_and_then_refused(sb, md):
    sb.admin.create_mastodon_account("revoke.social", "leaver")
    redirect = "https://clarion.test/c/one/mastodon/callback"
    client_id, client_secret = md.register_app("revoke.social", redirect)
    other_id, other_secret = md.register_app("revoke.social", "https://clarion.test/c/two/cb")
    url = md.authorize_url("revoke.social", client_id, redirect, "s")
    answer = requests.post(
        url, data={"username": "leaver", "decision": "approve"}, allow_redirects=False, timeout=5
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = md.exchange_code("revoke.social", client_id, client_secret, redirect, code)
    creds = Credentials(token, server="https://revoke.social")

    with pytest.raises(AuthError) as refused:
        md.revoke(creds, other_id, other_secret)  # Doorkeeper: 403 for another app
    assert token not in str(refused.value) and other_secret not in str(refused.value)
    md.verify(creds)  # still works

    md.revoke(creds, client_id, client_secret)
    md.revoke(creds, client_id, client_secret)  # a dead token: nothing to do, no error

    with pytest.raises(AuthError):
        md.verify(creds)
