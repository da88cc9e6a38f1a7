"""Every row of X_ERROR_TABLE, and the unknown case, as a pure function of an answer.

The same rows are driven over real HTTP through tweepy in test_x.py (sandbox scripts).
"""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.platforms.x import (
    DEFAULT_RATE_LIMIT_WAIT,
    X_ERROR_TABLE,
    classify_x_response,
    compose_text,
    normalise_for_match,
)

NOW = 1_800_000_000.0
DUPLICATE = {
    "detail": "You are not allowed to create a Tweet with duplicate content.",
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
    "status": 429,
}
INVALID = {
    "title": "Invalid Request",
    "detail": "One or more parameters to your request was invalid.",
    "type": "https://api.twitter.com/2/problems/invalid-request",
    "errors": [{"message": "$.text: must be at most 280 characters", "parameters": {}}],
}

# (status, body, expected class, a phrase the message must hold) - one per table row.
ROWS = [
    (429, USAGE_CAPPED, PermanentError, "usage cap"),
    (429, TOO_MANY, TransientError, "rate limited"),
    (
        401,
        {"title": "Unauthorized", "type": "about:blank", "detail": "Unauthorized"},
        AuthError,
        "token",
    ),
    (
        403,
        {
            "title": "Forbidden",
            "type": "https://api.twitter.com/2/problems/oauth1-permissions",
            "detail": "Your client app is not configured with the appropriate oauth1 perms",
        },
        AuthError,
        "write permission",
    ),
    (403, DUPLICATE, PermanentError, "duplicate content"),
    (
        403,
        {"title": "Forbidden", "detail": "You are not permitted to reply to this post."},
        PermanentError,
        "not permitted to reply",
    ),
    (400, INVALID, PermanentError, "at most 280"),
    (
        404,
        {"title": "Not Found Error", "detail": "Could not find tweet with in_reply_to_tweet_id"},
        PermanentError,
        "could not find",
    ),
    (503, {"title": "Service Unavailable"}, TransientError, "server error"),
]


def test_the_table_has_one_test_row_per_rule():
    assert len(ROWS) == len(X_ERROR_TABLE)


@pytest.mark.parametrize(("status", "body", "expected", "phrase"), ROWS)
def test_each_x_error_row_gives_its_class(status, body, expected, phrase):
    error = classify_x_response(status, body, {"x-rate-limit-reset": str(int(NOW) + 60)}, now=NOW)
    assert type(error) is expected
    assert phrase in error.message.lower()


def test_a_rate_limit_waits_until_x_rate_limit_reset():
    error = classify_x_response(429, TOO_MANY, {"x-rate-limit-reset": str(int(NOW) + 321)}, now=NOW)
    assert isinstance(error, TransientError)
    assert error.rate_limited
    assert error.retry_after == pytest.approx(321)


def test_a_rate_limit_without_reset_header_waits_a_whole_window():
    error = classify_x_response(429, TOO_MANY, {}, now=NOW)
    assert isinstance(error, TransientError)
    assert error.retry_after == DEFAULT_RATE_LIMIT_WAIT


def test_a_reset_in_the_past_still_waits_a_moment():
    error = classify_x_response(429, TOO_MANY, {"x-rate-limit-reset": str(int(NOW) - 5)}, now=NOW)
    assert isinstance(error, TransientError)
    assert error.retry_after == 1.0


def test_a_usage_cap_is_not_a_rate_limit_wait():
    error = classify_x_response(429, USAGE_CAPPED, {"x-rate-limit-reset": "1"}, now=NOW)
    assert isinstance(error, PermanentError)
    assert error.code == "usage-capped"


@pytest.mark.parametrize("status", [409, 418, 302, 422])
def test_an_unknown_status_is_transient(status):
    error = classify_x_response(status, {"title": "Something new"}, {}, now=NOW)
    assert type(error) is TransientError
    assert not error.rate_limited
    assert "something new" in error.message.lower()


@pytest.mark.parametrize("body", [None, [], "oops", {"errors": "not a list"}, 42])
def test_odd_bodies_are_classified_by_status_without_crashing(body):
    assert type(classify_x_response(401, body)) is AuthError
    assert type(classify_x_response(500, body)) is TransientError


def test_urls_compare_equal_once_x_has_shortened_them():
    ours = "Vote today & bring a friend https://example.org/vote?x=1"
    theirs = "Vote today &amp; bring a friend https://t.co/AbC123"
    assert normalise_for_match(ours) == normalise_for_match(theirs)
    assert normalise_for_match("Vote today") != normalise_for_match("Vote tomorrow")


def test_a_link_is_appended_once():
    assert compose_text("Read this", "https://e.org/a") == "Read this\nhttps://e.org/a"
    assert compose_text("Read https://e.org/a now", "https://e.org/a") == "Read https://e.org/a now"
    assert compose_text("Plain", None) == "Plain"


@pytest.mark.parametrize("host", ["https://api.x.com", "https://api.twitter.com"])
def test_problem_types_are_read_the_same_on_either_of_xs_hosts(host):
    # docs.x.com shows api.x.com problem types; answers on the former host name it instead.
    for status, body, expected, _ in ROWS:
        if str(body.get("type", "")).startswith("https://api.twitter.com/"):
            moved = {**body, "type": host + body["type"][len("https://api.twitter.com") :]}
            error = classify_x_response(status, moved, {"x-rate-limit-reset": "1"}, now=NOW)
            assert type(error) is expected, (host, body["type"])
