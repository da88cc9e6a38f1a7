"""Every Graph error the sandbox produces: body shape, code, subcode and HTTP status."""

from __future__ import annotations

import json

import facebook
import pytest

from tests.support.graph import GRAPH_VERSION, GraphSandbox


def graph_error(fb: GraphSandbox, method: str, path: str, **params: str) -> dict:
    """The error body of a raw call, after checking the envelope every Graph error has."""
    answer = fb.raw(method, path, **params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert {"message", "type", "code", "fbtrace_id"} <= set(error)
    return dict(error)


def post_error(fb: GraphSandbox, token: str, page_id: str, **data: str) -> facebook.GraphAPIError:
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(token).put_object(page_id, "feed", **data)
    return caught.value


def test_an_old_graph_version_is_error_2635(fb: GraphSandbox):
    page = fb.new_page()
    error = graph_error(fb, "GET", "/v18.0/me", access_token=page["page_token"])
    assert error["code"] == 2635
    assert error["message"].startswith("(#2635) You are calling a deprecated version")
    assert error["message"].endswith("v26.0.")
    # The same through facebook-sdk with its own default version (v2.8).
    old = facebook.GraphAPI(access_token=page["page_token"], session=fb.session, timeout=5)
    with pytest.raises(facebook.GraphAPIError) as caught:
        old.get_object("me")
    assert caught.value.code == 2635


def test_a_version_from_the_future_is_an_unknown_path(fb: GraphSandbox):
    page = fb.new_page()
    error = graph_error(fb, "GET", "/v99.0/me", access_token=page["page_token"])
    assert error["code"] == 2500


def test_a_call_without_a_token_is_refused(fb: GraphSandbox):
    fb.new_page()
    error = graph_error(fb, "GET", f"/{GRAPH_VERSION}/me")
    assert error["code"] == 2500
    assert "access token" in error["message"]


def test_an_unknown_token_is_error_190(fb: GraphSandbox):
    answer = fb.raw("GET", f"/{GRAPH_VERSION}/me", access_token="EAAnotatoken")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 190
    assert "error_subcode" not in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith('OAuth "Facebook Platform"')


@pytest.mark.parametrize(
    ("reason", "subcode"),
    [("deauthorized", 458), ("password_changed", 460), ("logged_out", 467)],
)
def test_a_revoked_page_token_is_error_190_with_the_reasons_subcode(
    fb: GraphSandbox, reason, subcode
):
    page = fb.new_page()
    answer = fb.admin("POST", "/revoke", token=page["page_token"], reason=reason)
    assert answer.json() == {"revoked": 1}
    error = post_error(fb, page["page_token"], page["page_id"], message="hi")
    assert error.code == 190
    assert error.result["error"]["error_subcode"] == subcode
    assert error.type == "OAuthException"


def test_revoking_the_admins_user_token_kills_the_page_token_too(fb: GraphSandbox):
    page = fb.new_page()
    answer = fb.admin("POST", "/revoke", token=page["user_token"], reason="password_changed")
    assert answer.json() == {"revoked": 2}
    error = post_error(fb, page["page_token"], page["page_id"], message="hi")
    assert (error.code, error.result["error"]["error_subcode"]) == (190, 460)


def test_revoking_an_unknown_token_is_a_404(fb: GraphSandbox):
    assert fb.admin("POST", "/revoke", token="nope").status_code == 404
    assert fb.admin("POST", "/revoke", token="nope", reason="bored").status_code == 400


def test_an_expired_user_token_is_error_190_subcode_463(fb: GraphSandbox):
    page = fb.new_page()
    fb.clock.advance(61 * 24 * 3600)
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["user_token"]).get_object("me")
    assert (caught.value.code, caught.value.result["error"]["error_subcode"]) == (190, 463)
    assert "Session has expired" in caught.value.message
    # The Page token from a long-lived user token does not expire.
    assert fb.graph(page["page_token"]).get_object("me")["id"] == page["page_id"]


def test_posting_with_a_user_token_is_error_200(fb: GraphSandbox):
    page = fb.new_page()
    error = post_error(fb, page["user_token"], page["page_id"], message="hi")
    assert error.code == 200
    assert "pages_manage_posts" in error.message


def test_posting_with_another_pages_token_is_error_200(fb: GraphSandbox):
    page = fb.new_page()
    other = fb.new_page(name="Other")
    error = post_error(fb, other["page_token"], page["page_id"], message="hi")
    assert error.code == 200
    assert fb.state.feed(page["page_id"]) == []


def test_deleting_another_pages_post_is_error_200(fb: GraphSandbox):
    page = fb.new_page()
    other = fb.new_page(name="Other")
    post_id = fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="x")["id"]
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(other["page_token"]).delete_object(post_id)
    assert caught.value.code == 200
    assert fb.state.get_post(post_id) is not None


def test_the_same_message_again_on_the_same_page_is_error_506(fb: GraphSandbox):
    page = fb.new_page()
    other = fb.new_page(name="Other")
    fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="Same words")
    error = post_error(fb, page["page_token"], page["page_id"], message="Same words")
    assert error.code == 506
    assert error.message == "(#506) Duplicate status message"
    # Another Page may say the same thing, and so may this one after the window.
    fb.graph(other["page_token"]).put_object(other["page_id"], "feed", message="Same words")
    fb.clock.advance(24 * 3600 + 1)
    fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="Same words")


def test_an_empty_message_is_error_100(fb: GraphSandbox):
    page = fb.new_page()
    error = post_error(fb, page["page_token"], page["page_id"], message="")
    assert error.code == 100
    assert "Missing message or attachment" in error.message


def test_a_message_over_63206_characters_is_error_100(fb: GraphSandbox):
    page = fb.new_page()
    error = post_error(fb, page["page_token"], page["page_id"], message="a" * 63_207)
    assert error.code == 100
    fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="a" * 63_206)


def test_a_blocked_page_gets_error_368_until_the_block_ends(fb: GraphSandbox):
    page = fb.new_page()
    assert fb.admin("POST", f"/pages/{page['page_id']}/block", seconds=600).status_code == 200
    error = post_error(fb, page["page_token"], page["page_id"], message="hi")
    assert error.code == 368
    fb.clock.advance(601)
    fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="hi")


def test_an_unknown_object_is_error_100_subcode_33(fb: GraphSandbox):
    page = fb.new_page()
    error = graph_error(fb, "GET", f"/{GRAPH_VERSION}/123_456", access_token=page["page_token"])
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert error["message"].startswith("Unsupported get request. Object with ID '123_456'")


def test_the_page_call_limit_is_error_32_with_the_usage_header(fb: GraphSandbox):
    page = fb.new_page()
    assert fb.admin("POST", "/limits", page_calls=2).status_code == 200
    path = f"/{GRAPH_VERSION}/me"
    for _ in range(2):
        assert fb.raw("GET", path, access_token=page["page_token"]).status_code == 200
    answer = fb.raw("GET", path, access_token=page["page_token"])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["is_transient"]) == (32, True)
    usage = json.loads(answer.headers["X-Business-Use-Case-Usage"])[page["page_id"]][0]
    assert usage["call_count"] == 100
    assert usage["estimated_time_to_regain_access"] >= 1


def test_the_user_call_limit_is_error_17(fb: GraphSandbox):
    page = fb.new_page()
    fb.admin("POST", "/limits", user_calls=1)
    fb.graph(page["user_token"]).get_object("me")
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["user_token"]).get_object("me")
    assert caught.value.code == 17


def test_the_app_call_limit_is_error_4(fb: GraphSandbox):
    page = fb.new_page()
    fb.admin("POST", "/limits", app_calls=1)
    fb.graph(page["page_token"]).get_object("me")
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["user_token"]).get_object("me")
    assert caught.value.code == 4
    assert caught.value.message == "(#4) Application request limit reached"


def test_the_posting_cap_is_error_613(fb: GraphSandbox):
    page = fb.new_page()
    fb.admin("POST", "/limits", page_posts=1)
    fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="one")
    error = post_error(fb, page["page_token"], page["page_id"], message="two")
    assert error.code == 613


def test_limits_reject_unknown_names(fb: GraphSandbox):
    answer = fb.admin("POST", "/limits", tweets=5)
    assert answer.status_code == 400
    assert "unknown" in answer.json()["error"]


def test_a_refused_page_token_call_still_reports_its_usage(fb: GraphSandbox):
    page = fb.new_page()
    answer = fb.raw(
        "POST",
        f"/{GRAPH_VERSION}/{page['page_id']}/feed",
        message="",
        access_token=page["page_token"],
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 100
    assert page["page_id"] in json.loads(answer.headers["X-Business-Use-Case-Usage"])
