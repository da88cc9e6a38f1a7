"""FacebookPlatform: the real facebook-sdk GraphAPI against the sandbox over loopback HTTP."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

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
from bot.platforms.facebook import DEFAULT_THROTTLE_WAIT, FacebookPlatform

_names = itertools.count(1)
FEED = r"/feed$"


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


@pytest.fixture
def fb(sb):
    return FacebookPlatform(graph_base_url=sb.url, www_base_url=sb.url, timeout=5.0)


def new_page(sb, followers=100):
    page = sb.admin.create_page(f"Page {next(_names)}", followers)
    return page, Credentials(page["page_token"], "", page["page_id"])


@pytest.fixture
def page(sb):
    return new_page(sb)


def messages_on(sb, page_id):
    return [p["text"] for p in sb.admin.posts("facebook", page_id)]


def script_feed(sb, *responses):
    sb.admin.script("facebook", "POST", FEED, list(responses))


def test_the_registry_names_facebook_and_imports_it_lazily():
    assert "facebook" in PLATFORM_NAMES
    assert platform_class("facebook") is FacebookPlatform


# --- happy paths ------------------------------------------------------------------------


def test_it_publishes_to_the_page_feed(sb, fb, page):
    info, creds = page
    published = fb.publish(creds, "Town hall tonight")
    posts = sb.admin.posts("facebook", info["page_id"])
    assert [p["text"] for p in posts] == ["Town hall tonight"]
    assert published.platform_id == posts[0]["id"]
    assert published.url == f"https://www.facebook.com/{published.platform_id}"


def test_a_link_goes_as_the_link_field_not_in_the_message(sb, fb, page):
    info, creds = page
    fb.publish(creds, "Read the plan", link="https://example.org/plan")
    (post,) = sb.admin.posts("facebook", info["page_id"])
    assert (post["text"], post["link"]) == ("Read the plan", "https://example.org/plan")


def test_a_scheduled_post_is_held_by_facebook_until_its_time():
    with _fresh_sandbox() as other:
        fb = FacebookPlatform(graph_base_url=other.url)
        info, creds = new_page(other)
        at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
        published = fb.publish(creds, "Polls open now", publish_at=at)
        assert messages_on(other, info["page_id"]) == []
        other.admin.advance_clock(2 * 3600)
        (post,) = other.admin.posts("facebook", info["page_id"])
        assert post["id"] == published.platform_id
        assert datetime.fromisoformat(post["created_at"]) == at


def test_a_naive_publish_time_is_refused_before_any_request(fb, page):
    _, creds = page
    with pytest.raises(ValueError, match="timezone"):
        fb.publish(creds, "When?", publish_at=datetime(2030, 1, 1, 12, 0))


def test_a_thread_reply_is_refused_because_facebook_has_none(sb, fb, page):
    info, creds = page
    with pytest.raises(PermanentError, match="no threads"):
        fb.publish(creds, "part 2", reply_to="123_456")
    assert messages_on(sb, info["page_id"]) == []


def test_find_recent_finds_a_published_post(fb, page):
    _, creds = page
    since = datetime.now(UTC) - timedelta(seconds=5)
    fb.publish(creds, "Another post")
    published = fb.publish(creds, "Door knocking at 10")
    found = fb.find_recent(creds, "Door knocking at 10", since)
    assert found is not None and found.platform_id == published.platform_id
    assert found.created_at is not None


def test_find_recent_finds_a_post_facebook_is_still_holding(fb, page):
    _, creds = page
    since = datetime.now(UTC) - timedelta(seconds=5)
    published = fb.publish(creds, "Held post", publish_at=datetime.now(UTC) + timedelta(hours=2))
    found = fb.find_recent(creds, "Held post", since)
    assert found is not None and found.platform_id == published.platform_id


def test_find_recent_does_not_find_what_is_not_there(fb, page):
    _, creds = page
    since = datetime.now(UTC) - timedelta(seconds=5)
    fb.publish(creds, "Door knocking at 10")
    assert fb.find_recent(creds, "Door knocking at 11", since) is None


def test_find_recent_ignores_a_visitor_post_that_quotes_our_text(sb, fb, page):
    _, creds = page
    visitor = {
        "id": f"{creds.platform_user_id}_999",
        "message": "Door knocking at 10",
        "created_time": "2026-01-01T10:00:00+0000",
        "from": {"id": "100000000000999", "name": "A Visitor"},
    }
    sb.admin.script("facebook", "GET", FEED, [{"status": 200, "body": {"data": [visitor]}}])
    assert fb.find_recent(creds, "Door knocking at 10", datetime.now(UTC)) is None


def test_find_recent_follows_the_feed_pages(fb, page):
    _, creds = page
    since = datetime.now(UTC) - timedelta(seconds=5)
    published = fb.publish(creds, "On the second page")
    for n in range(100):  # newer posts push ours past the first page of 100
        fb.publish(creds, f"Newer post {n}")
    found = fb.find_recent(creds, "On the second page", since)
    assert found is not None and found.platform_id == published.platform_id


def test_verify_says_which_page_and_how_many_followers(sb, fb):
    info, creds = new_page(sb, followers=2500)
    who = fb.verify(creds)
    assert (who.platform_user_id, who.name, who.followers) == (
        info["page_id"],
        info["name"],
        2500,
    )


def test_the_graph_version_is_set_on_the_object(sb, fb, page):
    _, creds = page
    assert fb.graph_client("t").version == "v25.0"
    assert FacebookPlatform(graph_version="26.0").graph_client().version == "v26.0"
    sb.admin.script("facebook", "GET", r"^/v25\.0/\d+$", [{"status": 200, "body": {"id": "1"}}])
    assert fb.verify(creds).platform_user_id == "1"  # the script matched the v25.0 path


def test_an_old_graph_version_is_permanent_and_names_the_setting(sb, page):
    _, creds = page
    old = FacebookPlatform(graph_version="v2.8", graph_base_url=sb.url)
    with pytest.raises(PermanentError, match="FACEBOOK_GRAPH_VERSION"):
        old.publish(creds, "From the past")


# --- Facebook Login -----------------------------------------------------------------------


def test_the_login_helpers_turn_a_consent_into_a_page_token_that_posts(sb, fb):
    app = sb.admin.app()
    redirect_uri = "http://127.0.0.1:9/facebook/callback"
    scopes = ["pages_manage_posts", "pages_read_engagement", "pages_show_list"]
    url = fb.login_url(app["fb_app_id"], redirect_uri, "state-42", scopes)
    assert url.startswith(sb.url + "/v25.0/dialog/oauth?")
    assert requests.get(url, timeout=5).status_code == 200
    page_name = f"Login Page {next(_names)}"
    answer = requests.post(
        url,
        data={"decision": "allow", "new_user": "Ana Volunteer", "page_name": page_name},
        allow_redirects=False,
        timeout=5,
    )
    location = urlsplit(answer.headers["location"])
    query = parse_qs(location.query)
    assert query["state"] == ["state-42"]

    short = fb.exchange_code(app["fb_app_id"], app["fb_app_secret"], redirect_uri, query["code"][0])
    long = fb.long_lived(app["fb_app_id"], app["fb_app_secret"], short)
    pages = fb.pages(long)
    (mine,) = [p for p in pages if p["name"] == page_name]
    creds = Credentials(mine["access_token"], "", mine["id"])
    fb.publish(creds, "Posted with a Login page token")
    assert messages_on(sb, mine["id"]) == ["Posted with a Login page token"]


def test_a_wrong_app_secret_in_the_code_exchange_is_an_error_not_a_token(sb, fb):
    app = sb.admin.app()
    with pytest.raises(TransientError, match="client secret"):
        fb.exchange_code(app["fb_app_id"], "wrong", "http://127.0.0.1:9/cb", "nocode")


# --- failures over real HTTP: natural ones ------------------------------------------------


def test_a_revoked_page_token_is_an_auth_error(sb, fb, page):
    info, creds = page
    sb.admin.revoke("facebook", info["page_token"])
    with pytest.raises(AuthError) as caught:
        fb.publish(creds, "After revoke")
    assert info["page_token"] not in str(caught.value)
    with pytest.raises(AuthError):
        fb.verify(creds)


def test_graph_quoting_the_token_back_never_puts_it_in_the_error(sb, fb, page):
    info, creds = page
    token = info["page_token"]
    script_feed(sb, {"status": 400, "body": graph_error(190, f"token {token} is no good")})
    with pytest.raises(AuthError) as caught:
        fb.publish(creds, "Echo")
    assert token not in str(caught.value)
    assert "token *** is no good" in caught.value.message


def test_posting_the_same_message_twice_is_a_permanent_duplicate(fb, page):
    _, creds = page
    fb.publish(creds, "Same again")
    with pytest.raises(PermanentError, match="duplicate"):
        fb.publish(creds, "Same again")


def test_reads_carry_the_token_in_a_header_not_in_the_url(tiny_server):
    fb = FacebookPlatform(graph_base_url=tiny_server.url)
    with pytest.raises(TransientError):  # the tiny server's answer is not a Page
        fb.verify(Credentials("EAA-page-token", "", "123"))
    (seen,) = tiny_server.seen
    assert seen.path == "/v25.0/123"
    assert "EAA-page-token" not in seen.query
    assert seen.headers["Authorization"] == "Bearer EAA-page-token"


def test_a_refused_connection_is_transient_and_never_shows_the_token(page, closed_port_url):
    info, creds = page
    offline = FacebookPlatform(graph_base_url=closed_port_url)
    with pytest.raises(TransientError) as caught:
        offline.verify(creds)  # a GET: the token rides in the query string
    assert type(caught.value) is TransientError
    assert info["page_token"] not in str(caught.value)
    assert caught.value.__suppress_context__  # requests' own message is hidden


# --- every code of the error table, scripted ----------------------------------------------


def graph_error(code, message, subcode=None, transient=None):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Axyz"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    return {"error": error}


SCRIPTED = [
    (190, 460, AuthError, "token"),
    (190, None, AuthError, "token"),
    (102, None, AuthError, "session"),
    (10, None, AuthError, "permission"),
    (200, None, AuthError, "permission"),
    (4, None, TransientError, "rate limit"),
    (17, None, TransientError, "rate limit"),
    (32, None, TransientError, "rate limit"),
    (613, None, TransientError, "rate limit"),
    (341, None, TransientError, "rate limit"),
    (368, None, PermanentError, "policy"),
    (506, None, PermanentError, "duplicate"),
    (100, None, PermanentError, "parameter"),
    (2635, None, PermanentError, "FACEBOOK_GRAPH_VERSION"),
    (1, None, TransientError, "unknown"),
    (2, None, TransientError, "service"),
    (9999, None, TransientError, "unexpected"),
]


@pytest.mark.parametrize(("code", "subcode", "expected", "phrase"), SCRIPTED)
def test_each_graph_code_is_classified_over_real_http(
    sb, fb, page, code, subcode, expected, phrase
):
    info, creds = page
    body = graph_error(code, f"words for #{code}", subcode, transient=code in (1, 2, 4, 17, 32))
    script_feed(sb, {"status": 400, "body": body})
    with pytest.raises(expected) as caught:
        fb.publish(creds, "Scripted")
    assert type(caught.value) is expected
    assert phrase.lower() in caught.value.message.lower()
    assert f"words for #{code}" in caught.value.message
    assert messages_on(sb, info["page_id"]) == []


def test_a_throttled_call_waits_as_long_as_the_usage_header_says(sb, fb, page):
    _, creds = page
    usage = {
        creds.platform_user_id: [
            {"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 12}
        ]
    }
    script_feed(
        sb,
        {
            "status": 400,
            "headers": {"x-business-use-case-usage": json.dumps(usage)},
            "body": graph_error(32, "(#32) Page request limit reached"),
        },
        {"status": 400, "body": graph_error(4, "(#4) Application request limit reached")},
    )
    with pytest.raises(TransientError) as first:
        fb.publish(creds, "Throttled")
    assert (first.value.rate_limited, first.value.retry_after) == (True, 12 * 60)
    with pytest.raises(TransientError) as second:
        fb.publish(creds, "Throttled")
    assert (second.value.rate_limited, second.value.retry_after) == (True, DEFAULT_THROTTLE_WAIT)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(500, "<html>Internal Server Error</html>", TransientError, id="500-html"),
        pytest.param(503, "", TransientError, id="503-empty"),
        pytest.param(400, "Bad request, plain text", TransientError, id="400-text"),
        pytest.param(200, "<html>ok?</html>", OutcomeUnknown, id="200-html-after-post"),
        pytest.param(200, {"success": True}, OutcomeUnknown, id="200-without-id"),
        pytest.param(200, ["not", "an", "object"], OutcomeUnknown, id="200-json-array"),
    ],
)
def test_odd_answers_are_classified_never_a_key_error(sb, fb, page, status, body, expected):
    _, creds = page
    script_feed(sb, {"status": status, "body": body})
    with pytest.raises(expected) as caught:
        fb.publish(creds, "Odd answer")
    assert type(caught.value) is expected


def test_an_odd_answer_to_a_read_is_transient_not_unknown(sb, fb, page):
    _, creds = page
    sb.admin.script("facebook", "GET", r"^/v25\.0/\d+$", [{"status": 200, "body": "<html>"}])
    with pytest.raises(TransientError) as caught:
        fb.verify(creds)
    assert type(caught.value) is TransientError


# --- failures after sending ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["drop", "reset"])
def test_a_connection_lost_after_sending_is_an_unknown_outcome(sb, fb, page, action):
    _, creds = page
    script_feed(sb, {"action": action})
    with pytest.raises(OutcomeUnknown):
        fb.publish(creds, f"Lost by {action}")


def test_a_timeout_after_sending_is_an_unknown_outcome(sb, page):
    _, creds = page
    impatient = FacebookPlatform(graph_base_url=sb.url, timeout=0.3)
    script_feed(sb, {"action": "timeout", "seconds": 1})
    with pytest.raises(OutcomeUnknown):
        impatient.publish(creds, "Slow")


def test_a_post_accepted_then_dropped_is_unknown_and_then_found(sb, fb, page):
    info, creds = page
    since = datetime.now(UTC) - timedelta(seconds=5)
    script_feed(sb, {"action": "accept_then_drop"})
    with pytest.raises(OutcomeUnknown):
        fb.publish(creds, "It went out anyway")
    assert messages_on(sb, info["page_id"]) == ["It went out anyway"]
    assert fb.find_recent(creds, "It went out anyway", since) is not None


def test_a_lost_answer_while_reading_the_feed_is_transient(sb, fb, page):
    _, creds = page
    sb.admin.script("facebook", "GET", FEED, [{"action": "drop"}])
    with pytest.raises(TransientError) as caught:
        fb.find_recent(creds, "Anything", datetime.now(UTC) - timedelta(minutes=1))
    assert type(caught.value) is TransientError


def _fresh_sandbox():
    from bot.sandbox.testing import running_sandbox

    return running_sandbox()
