"""Every row of BLUESKY_ERROR_TABLE, and the unknown case, as a pure function of an answer.

The same rows go over real HTTP through both transports in test_adapter.py and
test_async_publish.py (sandbox scripts).
"""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.platforms.bluesky import BLUESKY_ERROR_TABLE, classify_bluesky_response
from bot.platforms.bluesky.errors import DEFAULT_RATE_LIMIT_WAIT

NOW = 1_800_000_000.0


def xrpc(name: str, message: str = "") -> dict[str, str]:
    return {"error": name, "message": message}


# (status, body, expected class, a phrase the message must hold) - one per table row.
ROWS = [
    (429, xrpc("RateLimitExceeded", "Rate Limit Exceeded"), TransientError, "rate limited"),
    (400, xrpc("ExpiredToken", "Token has expired"), AuthError, "expired"),
    (401, xrpc("InvalidToken", "Token could not be verified"), AuthError, "rejected"),
    (401, xrpc("use_dpop_nonce", "Authorization server requires nonce"), TransientError, "nonce"),
    (401, xrpc("AuthenticationRequired", "Authentication Required"), AuthError, "credentials"),
    (400, xrpc("AccountTakedown", "Account has been taken down"), AuthError, "taken down"),
    (400, xrpc("AccountDeactivated", "Account is deactivated"), AuthError, "deactivated"),
    (403, xrpc("Forbidden", "missing scope"), AuthError, "permission"),
    (400, xrpc("InvalidSwap", "Record already exists"), PermanentError, "already exists"),
    (400, xrpc("InvalidRequest", "Record already exists"), PermanentError, "already exists"),
    (400, xrpc("RecordNotFound", "Could not locate record"), PermanentError, "not found"),
    (
        400,
        xrpc("InvalidRequest", "Invalid app.bsky.feed.post record: text must not be longer"),
        PermanentError,
        "invalid",
    ),
    (413, xrpc("PayloadTooLarge", "request entity too large"), PermanentError, "too large"),
    (502, xrpc("UpstreamFailure", "upstream failed"), TransientError, "server error"),
]


def test_the_table_has_one_test_row_per_rule():
    assert len(ROWS) == len(BLUESKY_ERROR_TABLE)


@pytest.mark.parametrize(("status", "body", "expected", "phrase"), ROWS)
def test_each_bluesky_error_row_gives_its_class(status, body, expected, phrase):
    error = classify_bluesky_response(
        status, body, {"ratelimit-reset": str(int(NOW) + 60)}, now=NOW
    )
    assert type(error) is expected
    assert phrase in error.message.lower()


def test_a_record_already_under_our_key_is_a_duplicate():
    for name in ("InvalidSwap", "InvalidRequest"):
        error = classify_bluesky_response(400, xrpc(name, "Record already exists"), now=NOW)
        assert isinstance(error, PermanentError)
        assert error.duplicate


def test_an_invalid_post_is_not_a_duplicate():
    error = classify_bluesky_response(400, xrpc("InvalidRequest", "text too long"), now=NOW)
    assert isinstance(error, PermanentError)
    assert not error.duplicate


def test_a_dpop_nonce_challenge_is_tried_again_and_posted_nothing():
    error = classify_bluesky_response(401, xrpc("use_dpop_nonce"), now=NOW)
    assert isinstance(error, TransientError)
    assert not error.maybe_sent and not error.rate_limited


def test_a_server_error_may_have_created_the_post():
    error = classify_bluesky_response(500, xrpc("InternalServerError"), now=NOW)
    assert isinstance(error, TransientError)
    assert error.maybe_sent


def test_a_rate_limit_waits_until_ratelimit_reset():
    error = classify_bluesky_response(
        429, xrpc("RateLimitExceeded"), {"ratelimit-reset": str(int(NOW) + 321)}, now=NOW
    )
    assert isinstance(error, TransientError)
    assert error.rate_limited
    assert error.retry_after == pytest.approx(321)


def test_a_rate_limit_without_reset_header_waits_five_minutes():
    error = classify_bluesky_response(429, xrpc("RateLimitExceeded"), {}, now=NOW)
    assert isinstance(error, TransientError)
    assert error.retry_after == DEFAULT_RATE_LIMIT_WAIT


def test_a_reset_in_the_past_still_waits_a_moment():
    error = classify_bluesky_response(
        429, xrpc("RateLimitExceeded"), {"ratelimit-reset": str(int(NOW) - 5)}, now=NOW
    )
    assert isinstance(error, TransientError)
    assert error.retry_after == 1.0


@pytest.mark.parametrize("status", [409, 418, 302, 422])
def test_an_unknown_status_is_transient_and_may_have_been_sent(status):
    error = classify_bluesky_response(status, xrpc("SomethingNew"), {}, now=NOW)
    assert type(error) is TransientError
    assert error.maybe_sent
    assert not error.rate_limited
    assert "somethingnew" in error.message.lower()


@pytest.mark.parametrize("body", [None, [], "oops", {"error": 42}, 42])
def test_odd_bodies_are_classified_by_status_without_crashing(body):
    assert type(classify_bluesky_response(401, body)) is AuthError
    assert type(classify_bluesky_response(500, body)) is TransientError
    assert type(classify_bluesky_response(400, body)) is PermanentError
