"""The real tweepy Client against the sandbox's X API v2."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import tweepy
from requests_oauthlib import OAuth1

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import route_session, x_client

ME = {"user_auth": True}


def test_it_creates_a_post_and_shows_it_on_the_timeline(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    response = client.create_tweet(text="Rally at noon!", **ME)
    assert set(response.data) == {"id", "text"}
    assert response.data["text"] == "Rally at noon!"
    posts = sandbox.admin.posts("x", alice["id"])
    assert [p["text"] for p in posts] == ["Rally at noon!"]
    assert posts[0]["id"] == response.data["id"]


def test_ids_are_numeric_increasing_and_unique(client: tweepy.Client) -> None:
    ids = [int(client.create_tweet(text=f"post {i}", **ME).data["id"]) for i in range(20)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 20
    assert all(i > 10**17 for i in ids)  # snowflake-sized, like X's


def test_it_threads_replies_with_in_reply_to_tweet_id(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    first = client.create_tweet(text="1/2 Thread start", **ME).data["id"]
    second = client.create_tweet(text="2/2 end", in_reply_to_tweet_id=first, **ME).data["id"]
    tweet = client.get_tweet(
        second, tweet_fields=["conversation_id", "referenced_tweets", "in_reply_to_user_id"], **ME
    ).data
    # tweepy turns id fields into ints.
    assert tweet.conversation_id == int(first)
    assert tweet.referenced_tweets[0].id == int(first)
    assert tweet.in_reply_to_user_id == int(alice["id"])


def test_it_refuses_a_reply_to_a_post_that_does_not_exist(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="reply", in_reply_to_tweet_id="1234567890123", **ME)
    assert "deleted or not visible" in caught.value.response.json()["detail"]


def test_it_looks_up_a_post_with_metrics_for_its_author(client: tweepy.Client) -> None:
    created = client.create_tweet(text="metrics please", **ME).data["id"]
    fields = ["created_at", "author_id", "public_metrics", "non_public_metrics", "organic_metrics"]
    response = client.get_tweet(created, tweet_fields=fields, **ME)
    tweet = response.data
    assert tweet.edit_history_tweet_ids == [int(created)]
    assert tweet.created_at is not None
    assert set(tweet.public_metrics) == {
        "retweet_count",
        "reply_count",
        "like_count",
        "quote_count",
        "bookmark_count",
        "impression_count",
    }
    assert set(tweet.non_public_metrics) == {
        "impression_count",
        "url_link_clicks",
        "user_profile_clicks",
    }
    assert "like_count" in tweet.organic_metrics
    assert response.errors == []


def test_metrics_grow_as_sandbox_time_passes(sandbox: SandboxHandle, client: tweepy.Client) -> None:
    created = client.create_tweet(text="watch me grow", **ME).data["id"]
    early = client.get_tweet(created, tweet_fields=["public_metrics"], **ME).data.public_metrics
    sandbox.admin.advance_clock(6 * 3600)
    later = client.get_tweet(created, tweet_fields=["public_metrics"], **ME).data.public_metrics
    assert later["impression_count"] > early["impression_count"]
    assert all(later[k] >= early[k] for k in early)


def test_private_metrics_are_refused_to_other_users_with_x_field_error(
    sandbox: SandboxHandle, client: tweepy.Client, bob: dict[str, Any]
) -> None:
    created = client.create_tweet(text="mine", **ME).data["id"]
    other = x_client(sandbox.url, bob)
    response = other.get_tweet(created, tweet_fields=["public_metrics", "non_public_metrics"], **ME)
    assert response.data.public_metrics is not None
    assert response.data.non_public_metrics is None
    (error,) = response.errors
    assert error["type"] == "https://api.twitter.com/2/problems/not-authorized-for-field"
    assert error["field"] == "non_public_metrics"
    assert error["resource_id"] == created


def test_private_metrics_are_refused_after_30_days(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    created = client.create_tweet(text="old news", **ME).data["id"]
    sandbox.admin.advance_clock(31 * 24 * 3600)
    response = client.get_tweet(created, tweet_fields=["organic_metrics"], **ME)
    assert response.data.organic_metrics is None
    assert response.errors[0]["field"] == "organic_metrics"


def test_it_looks_up_many_posts_and_reports_missing_ones(client: tweepy.Client) -> None:
    a = client.create_tweet(text="a", **ME).data["id"]
    b = client.create_tweet(text="b", **ME).data["id"]
    response = client.get_tweets([a, "999", b], **ME)
    assert [t.id for t in response.data] == [int(a), int(b)]
    (missing,) = response.errors
    assert missing["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert missing["resource_id"] == "999"


def test_it_refuses_more_than_100_ids(client: tweepy.Client) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        client.get_tweets([str(i) for i in range(1, 102)], **ME)
    assert caught.value.response.json()["title"] == "Invalid Request"


def test_bearer_token_is_accepted_for_reads_but_not_for_posting(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    created = client.create_tweet(text="public", **ME).data["id"]
    app_only = tweepy.Client(bearer_token=SandboxOptions().bearer_token)
    route_session(app_only.session, sandbox.url)
    assert app_only.get_tweet(created).data.text == "public"
    # tweepy itself always signs posts with user context, so send this one by hand.
    refused = app_only.session.post(
        "https://api.twitter.com/2/tweets",
        json={"text": "nope"},
        headers={"Authorization": f"Bearer {SandboxOptions().bearer_token}"},
        timeout=5,
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/unsupported-authentication")
    bad = tweepy.Client(bearer_token="wrong")
    route_session(bad.session, sandbox.url)
    with pytest.raises(tweepy.Unauthorized):
        bad.get_tweet(created)


def test_it_deletes_only_the_authors_posts(
    sandbox: SandboxHandle, alice: dict[str, Any], bob: dict[str, Any], client: tweepy.Client
) -> None:
    created = client.create_tweet(text="to delete", **ME).data["id"]
    with pytest.raises(tweepy.Forbidden):
        x_client(sandbox.url, bob).delete_tweet(created, **ME)
    assert client.delete_tweet(created, **ME).data == {"deleted": True}
    assert sandbox.admin.posts("x", alice["id"]) == []
    assert client.get_tweet(created, **ME).data is None


def test_users_me_reports_followers(client: tweepy.Client, alice: dict[str, Any]) -> None:
    me = client.get_me(user_fields=["public_metrics"], **ME).data
    assert me.id == int(alice["id"])
    assert me.username == "alice"
    assert me.name == "Alice A."
    assert me.public_metrics["followers_count"] == 1000


def test_users_tweets_pages_newest_first(client: tweepy.Client, alice: dict[str, Any]) -> None:
    ids = [client.create_tweet(text=f"n{i}", **ME).data["id"] for i in range(12)]
    first = client.get_users_tweets(alice["id"], max_results=5, **ME)
    assert [str(t.id) for t in first.data] == ids[::-1][:5]
    assert first.meta["result_count"] == 5
    assert first.meta["newest_id"] == ids[-1]
    token = first.meta["next_token"]
    second = client.get_users_tweets(alice["id"], max_results=5, pagination_token=token, **ME)
    assert [str(t.id) for t in second.data] == ids[::-1][5:10]
    third = client.get_users_tweets(
        alice["id"], max_results=5, pagination_token=second.meta["next_token"], **ME
    )
    assert [str(t.id) for t in third.data] == ids[::-1][10:]
    assert "next_token" not in third.meta


def test_users_tweets_filters_by_start_time(
    sandbox: SandboxHandle, client: tweepy.Client, alice: dict[str, Any]
) -> None:
    client.create_tweet(text="before", **ME)
    sandbox.admin.advance_clock(3600)
    cutoff = sandbox.admin.advance_clock(1)["now"]
    client.create_tweet(text="after", **ME)
    response = client.get_users_tweets(alice["id"], start_time=cutoff, **ME)
    assert [t.text for t in response.data] == ["after"]
    empty = client.get_users_tweets(alice["id"], start_time="2100-01-01T00:00:00Z", **ME)
    assert empty.data is None
    assert empty.meta == {"result_count": 0}


def test_it_rejects_a_post_over_280_weighted_characters(client: tweepy.Client) -> None:
    client.create_tweet(text="é" * 280, **ME)  # 280 Latin characters fit
    with pytest.raises(tweepy.BadRequest) as caught:
        client.create_tweet(text="😀" * 141, **ME)  # emoji weigh 2: 282
    body = caught.value.response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["title"] == "Invalid Request"
    assert "text" in body["errors"][0]["message"]


def test_it_rejects_a_duplicate_with_xs_exact_body(client: tweepy.Client) -> None:
    client.create_tweet(text="Same words", **ME)
    with pytest.raises(tweepy.Forbidden) as caught:
        client.create_tweet(text="Same words", **ME)
    assert caught.value.response.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    }


def test_duplicates_are_allowed_from_another_account_or_after_the_window(
    sandbox: SandboxHandle, client: tweepy.Client, bob: dict[str, Any]
) -> None:
    client.create_tweet(text="Shared words", **ME)
    x_client(sandbox.url, bob).create_tweet(text="Shared words", **ME)
    sandbox.admin.advance_clock(sandbox.options.duplicate_window_s + 1)
    client.create_tweet(text="Shared words", **ME)


def test_a_bad_signature_gets_401_with_xs_body(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    bad = dict(alice, access_token_secret="not-the-secret")
    with pytest.raises(tweepy.Unauthorized) as caught:
        x_client(sandbox.url, bad).create_tweet(text="forged", **ME)
    response = caught.value.response
    assert response.json() == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }
    assert "x-rate-limit-reset" in response.headers
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_a_wrong_consumer_secret_gets_401(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    with pytest.raises(tweepy.Unauthorized):
        x_client(sandbox.url, alice, consumer_secret="wrong").get_me(**ME)


def test_a_revoked_token_gets_401(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    client.get_me(**ME)
    sandbox.admin.revoke("x", alice["access_token"])
    with pytest.raises(tweepy.Unauthorized):
        client.get_me(**ME)


def test_a_signed_query_string_is_verified(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    session = route_session(requests.Session(), sandbox.url)
    defaults = SandboxOptions()
    auth = OAuth1(
        defaults.consumer_key,
        defaults.consumer_secret,
        alice["access_token"],
        alice["access_token_secret"],
    )
    url = "https://api.twitter.com/2/users/me?user.fields=public_metrics,created_at"
    assert session.get(url, auth=auth, timeout=5).status_code == 200
    # Changing the query after signing must break the signature.
    prepared = requests.Request("GET", url, auth=auth).prepare()
    prepared.url = (prepared.url or "").replace("created_at", "description")
    assert session.send(prepared, timeout=5).status_code == 401


def test_per_user_post_limit_answers_429_with_reset(
    sandbox: SandboxHandle, client: tweepy.Client, bob: dict[str, Any]
) -> None:
    sandbox.admin.set_rate_limits(x_posts_per_user=3)
    for i in range(3):
        client.create_tweet(text=f"ok {i}", **ME)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="one too many", **ME)
    headers = caught.value.response.headers
    assert headers["x-rate-limit-remaining"] == "0"
    assert int(headers["x-rate-limit-reset"]) > time.time() + 800  # a 15-minute window
    assert caught.value.response.json()["title"] == "Too Many Requests"
    x_client(sandbox.url, bob).create_tweet(text="bob is fine", **ME)


def test_per_app_post_limit_answers_429(
    sandbox: SandboxHandle, client: tweepy.Client, bob: dict[str, Any]
) -> None:
    sandbox.admin.set_rate_limits(x_posts_per_app=2)
    client.create_tweet(text="one", **ME)
    x_client(sandbox.url, bob).create_tweet(text="two", **ME)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="three", **ME)
    assert caught.value.response.headers["x-app-limit-24hour-remaining"] == "0"
    assert "x-rate-limit-reset" in caught.value.response.headers


def test_monthly_cap_answers_429_usage_capped(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    sandbox.admin.set_rate_limits(x_monthly_post_cap=1)
    client.create_tweet(text="last one this month", **ME)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        client.create_tweet(text="capped", **ME)
    body = caught.value.response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/usage-capped"
    assert body["title"] == "UsageCapExceeded"


def test_error_answers_carry_rate_limit_headers_too(sandbox: SandboxHandle) -> None:
    session = route_session(requests.Session(), sandbox.url)
    unsigned = session.get("https://api.twitter.com/2/users/me", timeout=5)
    unknown_route = session.get(
        "https://api.twitter.com/2/nothing/here",
        headers={"Authorization": f"Bearer {SandboxOptions().bearer_token}"},
        timeout=5,
    )
    assert unsigned.status_code == 401
    assert unknown_route.status_code == 404
    for response in (unsigned, unknown_route):
        for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
            assert name in response.headers


def test_create_answers_201_with_location(sandbox: SandboxHandle, alice: dict[str, Any]) -> None:
    client = x_client(sandbox.url, alice, return_type=requests.Response)
    response = client.create_tweet(text="where am I", **ME)
    assert response.status_code == 201
    assert response.headers["location"].endswith("/2/tweets/" + response.json()["data"]["id"])
    for name in ("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"):
        assert name in response.headers


def test_links_come_back_wrapped_in_tco_and_html_entities_escaped(
    sandbox: SandboxHandle, alice: dict[str, Any], client: tweepy.Client
) -> None:
    text = "Sign & share <today>: https://example.org/petition?a=1&b=2 #campaign"
    created = client.create_tweet(text=text, **ME).data
    assert created["text"].startswith("Sign &amp; share &lt;today&gt;: https://t.co/")
    assert created["text"].endswith(" #campaign")
    assert "example.org" not in created["text"]
    looked_up = client.get_tweet(created["id"], **ME).data.text
    assert looked_up == created["text"]
    # The sandbox's own views keep what the volunteer wrote.
    assert sandbox.admin.posts("x", alice["id"])[0]["text"] == text
    with pytest.raises(tweepy.Forbidden):  # duplicates compare the text as sent
        client.create_tweet(text=text, **ME)
