"""XPlatform and XPinAuth: the real tweepy Client against the sandbox over loopback HTTP."""

from __future__ import annotations

import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import requests

from bot.platforms import PLATFORM_NAMES, platform_class
from bot.platforms.base import (
    AuthError,
    Credentials,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from bot.platforms.x import XPinAuth, XPlatform, compose_text
from bot.sandbox.x import oauth1 as x_oauth1
from tests.platforms.x.scripted_rows import SCRIPTED_ROWS
from tests.support.tiny_server import Answer

_handles = itertools.count(1)
TWEETS = r"^/2/tweets$"


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


@pytest.fixture
def app(sb):
    return sb.admin.app()


@pytest.fixture
def x(sb, app):
    return XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=sb.url, timeout=5.0)


def new_account(sb, followers=100):
    user = sb.admin.create_x_user(f"vol{next(_handles)}_{int(time.time()) % 10000}", followers)
    creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
    return user, creds


@pytest.fixture
def account(sb):
    return new_account(sb)


def texts_on(sb, user_id):
    return [p["text"] for p in sb.admin.posts("x", user_id)]


def script_tweets(sb, *responses):
    sb.admin.script("x", "POST", TWEETS, list(responses))


def test_the_registry_names_x_and_imports_it_lazily():
    assert "x" in PLATFORM_NAMES
    assert platform_class("x") is XPlatform
    with pytest.raises(ValueError, match="known platforms"):
        platform_class("myspace")


# --- happy paths ------------------------------------------------------------------------


def test_it_publishes_a_post_and_returns_its_id_and_url(sb, x, account):
    user, creds = account
    published = x.publish(creds, "Join us on Saturday")
    assert texts_on(sb, user["id"]) == ["Join us on Saturday"]
    assert published.platform_id == sb.admin.posts("x", user["id"])[0]["id"]
    assert published.url == f"https://x.com/i/web/status/{published.platform_id}"


def test_the_url_names_the_account_once_its_username_is_known(sb, x, account):
    user, creds = account
    x.verify(creds)
    published = x.publish(creds, "Named URL")
    assert published.url == f"https://x.com/{user['username']}/status/{published.platform_id}"
    other, other_creds = new_account(sb)
    x.remember_handle(other["id"], other["username"])
    assert x.publish(other_creds, "Told").url.startswith(f"https://x.com/{other['username']}/")


def test_a_thread_is_a_chain_of_replies(sb, x, account):
    user, creds = account
    first = x.publish(creds, "1/3 Why we march")
    second = x.publish(creds, "2/3 Where", reply_to=first.platform_id)
    third = x.publish(creds, "3/3 When", reply_to=second.platform_id)
    posts = {p["id"]: p for p in sb.admin.posts("x", user["id"])}
    assert posts[second.platform_id]["reply_to"] == first.platform_id
    assert posts[third.platform_id]["reply_to"] == second.platform_id
    assert posts[first.platform_id]["reply_to"] is None


def test_a_link_is_appended_to_the_text_unless_already_there(sb, x, account):
    user, creds = account
    x.publish(creds, "Sign the petition", link="https://example.org/p")
    x.publish(creds, "Petition https://example.org/q today", link="https://example.org/q")
    assert sorted(texts_on(sb, user["id"])) == [
        "Petition https://example.org/q today",
        "Sign the petition\nhttps://example.org/p",
    ]


def test_it_refuses_to_hold_a_post_for_later_and_posts_nothing(sb, x, account):
    user, creds = account
    with pytest.raises(PermanentError, match="scheduled"):
        x.publish(creds, "Later", publish_at=datetime.now(UTC) + timedelta(hours=1))
    assert texts_on(sb, user["id"]) == []


def test_find_recent_finds_our_post_by_the_text_as_sent_link_included(x, account):
    _, creds = account
    since = datetime.now(UTC) - timedelta(seconds=5)
    x.publish(creds, "Other post")
    sent = compose_text("Rally at noon & bring a sign", "https://example.org/r")
    published = x.publish(creds, sent, link="https://example.org/r")
    found = x.find_recent(creds, sent, since)
    assert found is not None
    assert found.platform_id == published.platform_id
    assert found.created_at is not None and found.created_at >= since


def test_find_recent_does_not_take_a_post_with_another_link_for_ours(x, account):
    _, creds = account
    since = datetime.now(UTC) - timedelta(seconds=5)
    x.publish(creds, "Sign the petition", link="https://example.org/older-petition")
    assert x.find_recent(creds, "Sign the petition", since) is None


def test_find_recent_does_not_find_a_post_that_is_not_there(x, account):
    _, creds = account
    since = datetime.now(UTC) - timedelta(seconds=5)
    x.publish(creds, "Rally at noon")
    assert x.find_recent(creds, "Rally at one", since) is None


def test_find_recent_ignores_posts_from_before_since(x, account):
    _, creds = account
    x.publish(creds, "Old news")
    later = datetime.now(UTC) + timedelta(seconds=2)
    assert x.find_recent(creds, "Old news", later) is None


def test_find_recent_follows_the_timeline_pages(sb, x, account):
    _, creds = account
    since = datetime.now(UTC) - timedelta(seconds=5)
    sb.admin.set_rate_limits(x_posts_per_user=1000)
    try:
        published = x.publish(creds, "On the second page")
        for n in range(100):  # newer posts push ours past the first page of 100
            x.publish(creds, f"Newer post {n}")
    finally:
        sb.admin.set_rate_limits(x_posts_per_user=100)
    found = x.find_recent(creds, "On the second page", since)
    assert found is not None and found.platform_id == published.platform_id


def test_verify_says_whose_token_it_is_with_followers(sb, x):
    user, creds = new_account(sb, followers=4321)
    info = x.verify(creds)
    assert (info.platform_user_id, info.handle, info.followers) == (
        user["id"],
        user["username"],
        4321,
    )


def test_clients_are_cached_per_token_pair_and_share_one_session(sb, x):
    _, one = new_account(sb)
    _, two = new_account(sb)
    assert x.user_client(one) is x.user_client(one)
    assert x.user_client(one) is not x.user_client(two)
    assert x.user_client(one).session is x.session is x.user_client(two).session
    assert x.user_client(one).wait_on_rate_limit is False


def test_many_accounts_can_post_at_once_through_the_shared_session(sb, x):
    accounts = [new_account(sb) for _ in range(40)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda a: x.publish(a[1], f"Together {a[0]['id']}"), accounts))
    assert len({r.platform_id for r in results}) == 40
    for user, _ in accounts:
        assert texts_on(sb, user["id"]) == [f"Together {user['id']}"]


# --- PIN flow -----------------------------------------------------------------------------


def test_the_pin_flow_gives_a_working_token_for_the_consenting_account(sb, app, x):
    auth = XPinAuth(app["consumer_key"], app["consumer_secret"], api_base_url=sb.url)
    url = auth.authorization_url()
    assert url.startswith(sb.url + "/oauth/authorize?oauth_token=")
    consent = requests.get(url, timeout=5)
    assert consent.status_code == 200
    token = re.search(r'name="oauth_token" value="([^"]+)"', consent.text).group(1)
    handle = f"pin{next(_handles)}_{int(time.time()) % 10000}"
    page = requests.post(
        url.split("?")[0],
        data={"oauth_token": token, "handle": handle, "authorise": "1"},
        timeout=5,
    )
    pin = re.search(r'id="pin">(\d+)<', page.text).group(1)
    access_token, secret, who = auth.finish(pin)
    assert who.handle == handle
    creds = Credentials(access_token, secret, who.platform_user_id)
    assert x.verify(creds).platform_user_id == who.platform_user_id


def test_a_wrong_pin_is_refused_with_a_message_saying_start_again(sb, app):
    auth = XPinAuth(app["consumer_key"], app["consumer_secret"], api_base_url=sb.url)
    auth.authorization_url()
    with pytest.raises(AuthError, match="PIN"):
        auth.finish("0000000")


def test_wrong_app_keys_are_named_as_the_setting_to_fix(sb):
    auth = XPinAuth("not-our-key", "nope", api_base_url=sb.url)
    with pytest.raises(PermanentError, match="X_CONSUMER_KEY"):
        auth.authorization_url()


def test_the_pin_flow_with_x_unreachable_is_transient(app, closed_port_url):
    auth = XPinAuth(app["consumer_key"], app["consumer_secret"], api_base_url=closed_port_url)
    with pytest.raises(TransientError, match="could not connect"):
        auth.authorization_url()


def test_finishing_before_starting_is_a_programming_error(sb, app):
    auth = XPinAuth(app["consumer_key"], app["consumer_secret"], api_base_url=sb.url)
    with pytest.raises(RuntimeError, match="authorization_url"):
        auth.finish("1234567")


# --- failures over real HTTP: natural ones -----------------------------------------------


def test_a_revoked_token_is_an_auth_error(sb, x, account):
    user, creds = account
    sb.admin.revoke("x", user["access_token"])
    with pytest.raises(AuthError) as caught:
        x.publish(creds, "After revoke")
    with pytest.raises(AuthError):
        x.verify(creds)
    assert user["access_token"] not in str(caught.value)
    assert user["access_token_secret"] not in str(caught.value)


def test_posting_the_same_text_twice_is_a_permanent_duplicate(x, account):
    _, creds = account
    x.publish(creds, "Same words")
    with pytest.raises(PermanentError, match="duplicate content"):
        x.publish(creds, "Same words")


def test_the_sandbox_rate_limit_is_a_rate_limited_wait_until_its_window_resets(sb, x, account):
    _, creds = account
    sb.admin.set_rate_limits(x_posts_per_user=1)
    try:
        x.publish(creds, "First in the window")
        with pytest.raises(TransientError) as caught:
            x.publish(creds, "Second in the window")
    finally:
        sb.admin.set_rate_limits(x_posts_per_user=100)
    assert caught.value.rate_limited
    assert 0 < caught.value.retry_after <= 15 * 60 + 1


def test_a_spent_monthly_cap_is_permanent_not_a_wait(sb, x, account):
    user, creds = account
    sb.admin.set_rate_limits(x_monthly_post_cap=0)
    try:
        with pytest.raises(PermanentError, match="usage cap") as caught:
            x.publish(creds, "Over the cap")
    finally:
        sb.admin.set_rate_limits(x_monthly_post_cap=None)
    assert caught.value.code == "usage-capped"
    assert texts_on(sb, user["id"]) == []


def test_a_refused_connection_is_transient(app, account, closed_port_url):
    _, creds = account
    offline = XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=closed_port_url)
    with pytest.raises(TransientError) as caught:
        offline.publish(creds, "Nobody home")
    assert type(caught.value) is TransientError


# --- every row of the error table, scripted -----------------------------------------------

RESET_IN = 120


@pytest.mark.parametrize(("status", "body", "expected", "phrase"), SCRIPTED_ROWS)
def test_each_error_row_is_classified_over_real_http(
    sb, x, account, status, body, expected, phrase
):
    user, creds = account
    reset = int(time.time()) + RESET_IN
    script_tweets(
        sb, {"status": status, "headers": {"x-rate-limit-reset": str(reset)}, "body": body}
    )
    with pytest.raises(expected) as caught:
        x.publish(creds, "Scripted")
    assert type(caught.value) is expected
    assert phrase in caught.value.message.lower()
    assert user["access_token"] not in caught.value.message
    assert texts_on(sb, user["id"]) == []


def test_a_rate_limit_carries_the_wait_until_x_rate_limit_reset(sb, x, account):
    _, creds = account
    reset = int(time.time()) + 300
    script_tweets(
        sb,
        {
            "status": 429,
            "headers": {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)},
            "body": {"title": "Too Many Requests", "detail": "Too Many Requests"},
        },
    )
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        x.publish(creds, "Too fast")
    assert time.monotonic() - started < 2  # never sleeps on the rate limit
    assert caught.value.rate_limited
    assert 295 <= caught.value.retry_after <= 301


@pytest.mark.parametrize(
    "body", ["created, honest", ["an", "array"], {"data": {"text": "no id"}}, {}]
)
def test_an_accepted_post_with_an_unreadable_answer_is_an_unknown_outcome(sb, x, account, body):
    _, creds = account
    script_tweets(sb, {"status": 201, "body": body})
    with pytest.raises(OutcomeUnknown):
        x.publish(creds, "Lost id")


def test_an_unreadable_verify_answer_is_transient(sb, x, account):
    _, creds = account
    sb.admin.script("x", "GET", r"^/2/users/me$", [{"status": 200, "body": ["odd"]}])
    with pytest.raises(TransientError, match="unreadable"):
        x.verify(creds)


# --- failures after sending ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["drop", "reset"])
def test_a_connection_lost_after_sending_is_an_unknown_outcome(sb, x, account, action):
    _, creds = account
    script_tweets(sb, {"action": action})
    with pytest.raises(OutcomeUnknown):
        x.publish(creds, f"Connection {action}")


def test_a_timeout_after_sending_is_an_unknown_outcome(sb, app, account):
    _, creds = account
    impatient = XPlatform(
        app["consumer_key"], app["consumer_secret"], api_base_url=sb.url, timeout=0.3
    )
    script_tweets(sb, {"action": "timeout", "seconds": 1})
    with pytest.raises(OutcomeUnknown):
        impatient.publish(creds, "Slow answer")


def test_a_post_accepted_then_dropped_is_unknown_and_then_found(sb, x, account):
    user, creds = account
    since = datetime.now(UTC) - timedelta(seconds=5)
    script_tweets(sb, {"action": "accept_then_drop"})
    with pytest.raises(OutcomeUnknown):
        x.publish(creds, "It did go out")
    assert texts_on(sb, user["id"]) == ["It did go out"]
    found = x.find_recent(creds, "It did go out", since)
    assert found is not None


def test_a_lost_answer_while_reading_the_timeline_is_transient_not_unknown(sb, x, account):
    user, creds = account
    sb.admin.script("x", "GET", rf"^/2/users/{user['id']}/tweets$", [{"action": "drop"}])
    with pytest.raises(TransientError) as caught:
        x.find_recent(creds, "Anything", datetime.now(UTC) - timedelta(minutes=1))
    assert type(caught.value) is TransientError


def test_every_call_to_x_is_signed_for_and_sent_to_xs_current_host(tiny_server):
    tiny_server.answer = Answer(
        200, b'{"data":{"id":"7","text":"hi","name":"N","username":"n"},"meta":{}}'
    )
    platform = XPlatform("ck", "cs", api_base_url=tiny_server.url, timeout=5.0)
    creds = Credentials("7-tok", "tok-secret", "7")
    platform.verify(creds)  # tweepy (it builds api.twitter.com URLs)
    platform.publish(creds, "hi")  # Clarion's own request
    platform.find_recent(creds, "hi", datetime.now(UTC) - timedelta(hours=1))  # tweepy again
    assert len(tiny_server.seen) == 3
    for seen in tiny_server.seen:
        signed_for = x_oauth1.verify(
            x_oauth1.parse_header(seen.headers["Authorization"]),
            method=seen.method,
            path=seen.path,
            query=seen.query,
            form_body=None,
            consumer_secret="cs",
            token_secret="tok-secret",
            now=time.time(),
        )
        assert signed_for == "https://api.x.com", seen.path
