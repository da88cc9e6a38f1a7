"""Every code of GRAPH_ERROR_TABLE, and the unknown cases, as a pure function of an answer.

The same codes are driven over real HTTP through facebook-sdk in test_facebook.py.
"""

from __future__ import annotations

import json

import pytest

from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.platforms.facebook import (
    DEFAULT_THROTTLE_WAIT,
    GRAPH_ERROR_TABLE,
    classify_graph_response,
)


def graph_error(code, message="msg", subcode=None, **extra):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1"}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return {"error": error}


EXPECTED = {
    190: AuthError,
    102: AuthError,
    10: AuthError,
    200: AuthError,
    4: TransientError,
    17: TransientError,
    32: TransientError,
    613: TransientError,
    341: TransientError,
    368: PermanentError,
    506: PermanentError,
    100: PermanentError,
    803: PermanentError,
    2635: PermanentError,
    1: TransientError,
    2: TransientError,
}


PERMISSION_CODES = set(range(200, 300))  # Graph's "API Permission" block, all AuthError


def test_every_code_in_the_table_has_an_expected_class_written_here():
    assert set(GRAPH_ERROR_TABLE) - PERMISSION_CODES == set(EXPECTED) - PERMISSION_CODES
    assert set(GRAPH_ERROR_TABLE) >= PERMISSION_CODES


@pytest.mark.parametrize("code", sorted(PERMISSION_CODES))
def test_every_permission_code_means_the_page_must_be_reconnected(code):
    assert type(classify_graph_response(400, graph_error(code))) is AuthError


@pytest.mark.parametrize(("code", "expected"), sorted(EXPECTED.items()))
def test_each_graph_code_gives_its_class(code, expected):
    error = classify_graph_response(400, graph_error(code, "the platform's words"))
    assert type(error) is expected
    assert error.code == code
    assert "the platform's words" in error.message


@pytest.mark.parametrize("subcode", [None, 458, 459, 460, 463, 464, 467])
def test_code_190_is_an_auth_error_whatever_the_subcode(subcode):
    assert type(classify_graph_response(400, graph_error(190, subcode=subcode))) is AuthError


@pytest.mark.parametrize("code", [4, 17, 32, 613])
def test_throttling_codes_are_rate_limits_with_the_default_wait(code):
    error = classify_graph_response(400, graph_error(code))
    assert isinstance(error, TransientError)
    assert error.rate_limited
    assert error.retry_after == DEFAULT_THROTTLE_WAIT


def test_the_wait_comes_from_estimated_time_to_regain_access_when_present():
    usage = {
        "111": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 3}],
        "222": [{"type": "pages", "call_count": 40, "estimated_time_to_regain_access": 7}],
    }
    headers = {"x-business-use-case-usage": json.dumps(usage)}
    error = classify_graph_response(400, graph_error(32), headers)
    assert isinstance(error, TransientError)
    assert error.retry_after == 7 * 60


@pytest.mark.parametrize("header", ["not json", "[]", '{"1": "x"}', '{"1": [{"type": "pages"}]}'])
def test_a_malformed_usage_header_falls_back_to_the_default_wait(header):
    error = classify_graph_response(400, graph_error(4), {"x-business-use-case-usage": header})
    assert isinstance(error, TransientError)
    assert error.retry_after == DEFAULT_THROTTLE_WAIT


def test_the_policy_block_says_so():
    error = classify_graph_response(400, graph_error(368))
    assert "policy" in error.message


def test_a_deprecated_version_tells_the_operator_what_to_set():
    error = classify_graph_response(400, graph_error(2635))
    assert "FACEBOOK_GRAPH_VERSION" in error.message


@pytest.mark.parametrize("code", [9999, 12, None, "190"])
def test_an_unknown_code_is_transient(code):
    error = classify_graph_response(400, graph_error(code, is_transient=False))
    assert type(error) is TransientError
    assert not error.rate_limited


@pytest.mark.parametrize("body", [None, "<html>oops</html>", [], {"error": "string"}])
def test_a_5xx_without_a_graph_error_body_is_transient(body):
    assert type(classify_graph_response(502, body)) is TransientError


@pytest.mark.parametrize("body", [None, {}, {"data": []}])
def test_a_4xx_without_a_graph_error_body_is_transient_not_a_crash(body):
    assert type(classify_graph_response(400, body)) is TransientError


def test_a_token_quoted_back_in_a_graph_message_is_blanked():
    body = graph_error(190, "Bad token EAAsecret123 for page")
    error = classify_graph_response(400, body, secrets=("EAAsecret123",))
    assert "EAAsecret123" not in error.message
    assert "Bad token *** for page" in error.message
