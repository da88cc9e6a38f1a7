"""BlueskyPlatform against the sandbox's PDS and AppView over loopback HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.platforms import PLATFORM_NAMES, platform_class
from bot.platforms.base import (
    AuthError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from bot.platforms.bluesky import BlueskyMetrics, BlueskyPlatform
from bot.platforms.bluesky.credentials import unpack
from bot.platforms.record_keys import new_record_key, part_record_key
from tests.platforms.bluesky.accounts import CREATE, new_account, routes_to, texts_on, xrpc_error

SINCE = datetime.now(UTC) - timedelta(minutes=5)


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()
    sandbox.admin.bluesky_limits(
        access_lifetime_s=7200, write_points_per_hour=5000, reset_counters=True
    )


@pytest.fixture
def bsky(sb):
    return BlueskyPlatform(routes=routes_to(sb.url), timeout=5.0)


@pytest.fixture
def account(sb):
    return new_account(sb)


def script_create(sb, *responses):
    sb.admin.script("bluesky", "POST", CREATE, list(responses))


def test_the_registry_names_bluesky_and_imports_it_lazily():
    assert "bluesky" in PLATFORM_NAMES
    assert platform_class("bluesky") is BlueskyPlatform


# --- happy paths ------------------------------------------------------------------------


def test_it_publishes_a_post_under_the_record_key_it_was_given(sb, bsky, account):
    info, creds = account
    key = new_record_key()
    published = bsky.publish(creds, "Picket at the gates, 7am #Strike", record_key=key)
    assert published.platform_id == f"at://{info['did']}/app.bsky.feed.post/{key}"
    assert published.url == f"https://bsky.app/profile/{info['handle']}/post/{key}"
    (post,) = sb.admin.bluesky_posts(info["did"])
    assert post["record"]["text"] == "Picket at the gates, 7am #Strike"
    assert post["record"]["facets"][0]["features"][0]["tag"] == "Strike"


def test_the_campaign_link_arrives_as_a_link_card(sb, bsky, account):
    info, creds = account
    bsky.publish(creds, "Sign the petition", link="https://union.example/petition")
    (post,) = sb.admin.bluesky_posts(info["did"])
    assert post["record"]["embed"]["external"]["uri"] == "https://union.example/petition"


def test_a_retry_with_the_same_key_cannot_make_a_second_post(sb, bsky, account):
    info, creds = account
    key = new_record_key()
    bsky.publish(creds, "Once only", record_key=key)
    with pytest.raises(PermanentError) as refused:
        bsky.publish(creds, "Once only", record_key=key)
    assert refused.value.duplicate
    assert texts_on(sb, info["did"]) == ["Once only"]


def test_a_lost_answer_is_settled_by_reading_the_one_record(sb, bsky, account):
    info, creds = account
    key = new_record_key()
    script_create(sb, {"action": "accept_then_drop"})
    with pytest.raises(OutcomeUnknown):
        bsky.publish(creds, "Did it go?", record_key=key)
    found = bsky.find_recent(creds, "Did it go?", SINCE, record_key=key)
    assert found is not None
    assert found.platform_id.endswith(key)
    assert bsky.find_recent(creds, "Did it go?", SINCE, record_key=new_record_key()) is None


def test_without_a_key_the_posts_are_searched_by_text_and_link(sb, bsky, account):
    info, creds = account
    bsky.publish(creds, "Search me", link="https://e.org/a")
    assert bsky.find_recent(creds, "Search me", SINCE, link="https://e.org/b") is None
    found = bsky.find_recent(creds, "Search me", SINCE, link="https://e.org/a")
    assert found is not None and found.text == "Search me"


def test_a_thread_part_replies_with_the_root_and_its_parent(sb, bsky, account):
    info, creds = account
    key = new_record_key()
    first = bsky.publish(creds, "1/3 Why we strike", record_key=key)
    second = bsky.publish(
        creds, "2/3 Pay", reply_to=first.platform_id, record_key=part_record_key(key, 1)
    )
    third = bsky.publish(
        creds, "3/3 Join us", reply_to=second.platform_id, record_key=part_record_key(key, 2)
    )
    posts = {p["uri"]: p for p in sb.admin.bluesky_posts(info["did"])}
    reply = posts[third.platform_id]["record"]["reply"]
    assert reply["root"]["uri"] == first.platform_id
    assert reply["root"]["cid"] == posts[first.platform_id]["cid"]
    assert reply["parent"]["uri"] == second.platform_id


def test_verify_says_whose_session_it_is_with_followers(sb, bsky):
    info, creds = new_account(sb, followers=321)
    who = bsky.verify(creds)
    assert (who.platform_user_id, who.handle, who.followers) == (info["did"], info["handle"], 321)


def test_an_expiring_session_is_refreshed_before_use_and_handed_back(sb):
    sb.admin.bluesky_limits(access_lifetime_s=30)  # under the refresh margin
    stored = []
    bsky = BlueskyPlatform(
        routes=routes_to(sb.url), timeout=5.0, on_refresh=lambda did, c: stored.append((did, c))
    )
    info, creds = new_account(sb)
    bsky.publish(creds, "Fresh token")
    bsky.publish(creds, "Fresh again")
    assert texts_on(sb, info["did"]) == ["Fresh again", "Fresh token"]
    assert stored and stored[0][0] == info["did"]
    assert unpack(stored[-1][1])["refresh_token"] != unpack(creds)["refresh_token"]


def test_an_app_password_signs_the_campaign_account_in_through_its_handle(sb, bsky):
    made = sb.admin.create_bluesky_account("campaign-hq", password="abcd-efgh-ijkl-mnop")
    creds = bsky.sign_in(made["handle"], "abcd-efgh-ijkl-mnop")
    session = unpack(creds)
    assert (session["did"], session["pds_url"]) == (made["did"], "https://pds.bsky.network")
    assert bsky.verify(creds).handle == made["handle"]
    with pytest.raises(AuthError):
        bsky.sign_in(made["handle"], "wrong-pass-word-here")


def test_engagement_is_read_in_one_batch_with_deleted_posts_marked(sb, bsky, account):
    info, creds = account
    one = bsky.publish(creds, "Count me")
    two = bsky.publish(creds, "Me too")
    sb.admin.bluesky_counts(one.platform_id, likeCount=7, repostCount=2, replyCount=1, quoteCount=0)
    gone = f"at://{info['did']}/app.bsky.feed.post/{new_record_key()}"
    readings = {
        r.platform_id: r
        for r in BlueskyMetrics(bsky).read([one.platform_id, two.platform_id, gone])
    }
    assert readings[one.platform_id].values == {"likes": 7, "reposts": 2, "replies": 1, "quotes": 0}
    assert set(readings[two.platform_id].values) == {"likes", "reposts", "replies", "quotes"}
    assert readings[gone].deleted


# --- every error row over HTTP ------------------------------------------------------------


def test_a_rate_limit_waits_for_ratelimit_reset(sb, bsky, account):
    _, creds = account
    reset = str(int(time.time()) + 90)
    script_create(
        sb,
        xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", **{"ratelimit-reset": reset}),
    )
    with pytest.raises(TransientError) as limited:
        bsky.publish(creds, "Too fast")
    assert limited.value.rate_limited
    assert 80 <= limited.value.retry_after <= 91


def test_the_write_budget_runs_out_with_the_platforms_own_429(sb, bsky, account):
    _, creds = account
    sb.admin.bluesky_limits(write_points_per_hour=6, reset_counters=True)
    bsky.publish(creds, "one")
    bsky.publish(creds, "two")
    with pytest.raises(TransientError) as limited:
        bsky.publish(creds, "three")
    assert limited.value.rate_limited and limited.value.retry_after > 3000


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (400, "ExpiredToken", AuthError),
        (401, "InvalidToken", AuthError),
        (401, "AuthenticationRequired", AuthError),
        (400, "AccountTakedown", AuthError),
        (400, "AccountDeactivated", AuthError),
        (403, "Forbidden", AuthError),
        (400, "InvalidSwap", PermanentError),
        (400, "RecordNotFound", PermanentError),
        (400, "InvalidRequest", PermanentError),
        (413, "PayloadTooLarge", PermanentError),
        (502, "UpstreamFailure", TransientError),
        (418, "Teapot", TransientError),
    ],
)
def test_each_scripted_error_row_is_classified_over_http(sb, bsky, account, status, name, expected):
    _, creds = account
    script_create(sb, xrpc_error(status, name, "scripted"))
    with pytest.raises(expected):
        bsky.publish(creds, "Scripted")


def test_a_revoked_session_needs_reconnecting(sb, bsky, account):
    info, creds = account
    sb.admin.bluesky_revoke(info["did"])
    with pytest.raises(AuthError):
        bsky.publish(creds, "After revoke")


def test_a_post_over_300_graphemes_is_refused_by_the_pds(sb, bsky, account):
    _, creds = account
    with pytest.raises(PermanentError, match="300 graphemes"):
        bsky.publish(creds, "é" * 301)
    bsky.publish(creds, "💪🏽" * 300)  # one grapheme each, two code points, 8 bytes
    with pytest.raises(PermanentError, match="3000"):
        bsky.publish(creds, "👩‍👩‍👧‍👦" * 200)  # 200 graphemes but 5,000 bytes


def test_a_server_error_to_a_create_may_have_posted(sb, bsky, account):
    _, creds = account
    sb.admin.set_faults("bluesky", error_rate=1.0)
    try:
        with pytest.raises(TransientError) as failed:
            bsky.publish(creds, "Server trouble")
    finally:
        sb.admin.set_faults("bluesky", error_rate=0.0)
    assert failed.value.maybe_sent


def test_a_dropped_connection_after_sending_is_an_unknown_outcome(sb, bsky, account):
    _, creds = account
    script_create(sb, {"action": "drop"})
    with pytest.raises(OutcomeUnknown):
        bsky.publish(creds, "Dropped")


def test_a_refused_connection_is_transient(closed_port_url, account):
    _, creds = account
    bsky = BlueskyPlatform(routes=routes_to(closed_port_url), timeout=2.0)
    with pytest.raises(TransientError):
        bsky.publish(creds, "Nobody home")


def test_publish_at_is_refused_before_any_request(bsky, account):
    _, creds = account
    with pytest.raises(PermanentError, match="cannot hold"):
        bsky.publish(creds, "Later", publish_at=datetime.now(UTC) + timedelta(hours=1))


def test_threads_posting_for_one_expiring_account_spend_its_refresh_token_once(sb):
    from concurrent.futures import ThreadPoolExecutor

    sb.admin.bluesky_limits(access_lifetime_s=30)
    refreshed = []
    bsky = BlueskyPlatform(
        routes=routes_to(sb.url), timeout=5.0, on_refresh=lambda did, c: refreshed.append(did)
    )
    info, creds = new_account(sb)  # its access token expires within the margin
    sb.admin.bluesky_limits(access_lifetime_s=7200)  # the refreshed one will not
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: bsky.publish(creds, f"At once {n}"), range(8)))
    assert len(texts_on(sb, info["did"])) == 8
    assert len(refreshed) == 1
