"""Every row of Mastodon's error table, and the answer it does not know, as pure functions."""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.platforms.mastodon import MASTODON_ERROR_TABLE, classify_mastodon_response
from bot.platforms.mastodon.errors import DEFAULT_RATE_LIMIT_WAIT, reset_wait

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        pytest.param(401, {"error": "The access token is invalid"}, AuthError, id="401-revoked"),
        pytest.param(
            403, {"error": "This action is outside the authorized scopes"}, AuthError, id="403"
        ),
        pytest.param(404, {"error": "Record not found"}, PermanentError, id="404-parent-gone"),
        pytest.param(
            422,
            {"error": "Validation failed: Text character limit of 500 exceeded"},
            PermanentError,
            id="422-too-long",
        ),
    ],
)
def test_tokens_and_validation_are_classified_by_status(status, body, kind):
    error = classify_mastodon_response(status, body)
    assert type(error) is kind
    assert error.code == status
    assert body["error"] in error.message


def test_a_rate_limit_waits_until_the_iso_reset_time_mastodon_sends():
    headers = {"x-ratelimit-reset": "2027-01-15T08:00:30.000Z"}
    reset = 1_800_000_030.0  # 2027-01-15T08:00:30Z
    error = classify_mastodon_response(429, {"error": "Too many requests"}, headers, now=NOW)
    assert isinstance(error, TransientError)
    assert error.rate_limited and not error.maybe_sent
    assert error.retry_after == pytest.approx(reset - NOW)


def test_a_reset_in_unix_seconds_is_read_too_and_never_waits_less_than_a_second():
    assert reset_wait({"x-ratelimit-reset": str(NOW + 90)}, NOW) == pytest.approx(90)
    assert reset_wait({"x-ratelimit-reset": str(NOW - 5)}, NOW) == 1.0


def test_a_rate_limit_without_a_reset_waits_one_window():
    error = classify_mastodon_response(429, None, {}, now=NOW)
    assert isinstance(error, TransientError)
    assert error.retry_after == DEFAULT_RATE_LIMIT_WAIT
    bad = classify_mastodon_response(429, None, {"x-ratelimit-reset": "soon"}, now=NOW)
    assert bad.retry_after == DEFAULT_RATE_LIMIT_WAIT


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507])
def test_a_server_error_may_have_posted_so_the_ledger_looks_first(status):
    error = classify_mastodon_response(status, "<html>oops</html>")
    assert isinstance(error, TransientError)
    assert error.maybe_sent and not error.rate_limited


def test_an_answer_the_table_does_not_know_is_transient_and_may_have_posted():
    error = classify_mastodon_response(418, {"error": "I'm a teapot"})
    assert type(error) is TransientError
    assert error.maybe_sent
    assert "418" in error.message


def test_a_token_quoted_back_is_blanked_out():
    error = classify_mastodon_response(
        401, {"error": "token sekrit-123 revoked"}, secrets=("sekrit-123",)
    )
    assert "sekrit-123" not in error.message
    assert "***" in error.message


def test_every_row_of_the_table_is_covered_here():
    assert set(MASTODON_ERROR_TABLE) == {401, 403, 404, 422, 429, 500, 502, 503, 504}
