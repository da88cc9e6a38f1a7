"""Facebook Login stand-in, driven the way the app does it: facebook-sdk plus a browser form."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import facebook
import pytest
import requests

from tests.support.graph import GRAPH_VERSION, GraphSandbox

REDIRECT = "https://clarion.example/fb/callback"
SCOPES = ["pages_show_list", "pages_read_engagement", "pages_manage_posts"]


def consent(fb: GraphSandbox, decision: str = "allow", **form: str) -> dict[str, list[str]]:
    """Open the dialog URL facebook-sdk builds, submit the consent form, return the redirect."""
    app = fb.state
    url = fb.graph().get_auth_url(app.app_id, REDIRECT, SCOPES, state="xyz<&>")
    assert url.startswith(f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth?")
    page = fb.session.get(url, timeout=5)
    assert page.status_code == 200
    assert '<form method="post">' in page.text
    assert "xyz&lt;&amp;&gt;" in page.text  # the state is HTML-escaped in the hidden field
    answer = fb.session.post(
        url, data={"decision": decision, **form}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?") and location.endswith("#_=_")
    return parse_qs(urlsplit(location).query)


def login(fb: GraphSandbox, **form: str) -> dict:
    back = consent(fb, new_user="Ada Volunteer", page_name="Ada's Street", **form)
    assert back["state"] == ["xyz<&>"]
    return dict(
        fb.graph().get_access_token_from_code(
            back["code"][0], REDIRECT, fb.state.app_id, fb.state.app_secret
        )
    )


def test_the_whole_login_gives_a_long_lived_token_and_a_page_token_that_posts(fb: GraphSandbox):
    short = login(fb)
    assert short["token_type"] == "bearer"
    assert 0 < short["expires_in"] <= 2 * 3600
    long = fb.graph(short["access_token"]).extend_access_token(fb.state.app_id, fb.state.app_secret)
    assert long["expires_in"] > 59 * 24 * 3600
    user = fb.graph(long["access_token"])
    assert user.get_object("me") == {"name": "Ada Volunteer", "id": user.get_object("me")["id"]}
    accounts = user.get_connections("me", "accounts")
    [entry] = accounts["data"]
    assert entry["name"] == "Ada's Street"
    assert set(entry) >= {"id", "name", "access_token", "category", "tasks"}
    assert "CREATE_CONTENT" in entry["tasks"]
    assert "cursors" in accounts["paging"]
    assert "followers_count" not in entry  # only when asked for, as on Graph
    [counted] = user.get_connections("me", "accounts", fields="id,name,followers_count")["data"]
    assert counted == {"id": entry["id"], "name": "Ada's Street", "followers_count": 100}
    posted = fb.graph(entry["access_token"]).put_object(entry["id"], "feed", message="Hi all")
    assert posted["id"].startswith(entry["id"] + "_")


def test_the_page_token_from_a_long_lived_login_never_expires(fb: GraphSandbox):
    short = login(fb)
    long = fb.graph(short["access_token"]).extend_access_token(fb.state.app_id, fb.state.app_secret)
    [entry] = fb.graph(long["access_token"]).get_connections("me", "accounts")["data"]
    info = fb.graph().debug_access_token(
        entry["access_token"], fb.state.app_id, fb.state.app_secret
    )["data"]
    assert info["type"] == "PAGE"
    assert info["expires_at"] == 0
    assert info["profile_id"] == entry["id"]
    assert info["is_valid"] is True
    assert set(info["scopes"]) == set(SCOPES)
    fb.clock.advance(90 * 24 * 3600)
    assert fb.graph(entry["access_token"]).get_object("me")["id"] == entry["id"]


def test_a_page_token_from_a_short_lived_login_dies_with_it(fb: GraphSandbox):
    short = login(fb)
    [entry] = fb.graph(short["access_token"]).get_connections("me", "accounts")["data"]
    fb.clock.advance(3 * 3600)
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(entry["access_token"]).get_object("me")
    assert (caught.value.code, caught.value.result["error"]["error_subcode"]) == (190, 463)


def test_debug_token_describes_a_user_token(fb: GraphSandbox):
    short = login(fb)
    info = fb.graph().debug_access_token(
        short["access_token"], fb.state.app_id, fb.state.app_secret
    )["data"]
    assert info["app_id"] == fb.state.app_id
    assert info["type"] == "USER"
    assert info["is_valid"] is True
    assert info["user_id"] == fb.graph(short["access_token"]).get_object("me")["id"]
    assert info["expires_at"] > info["issued_at"]


def test_debug_token_says_a_revoked_or_unknown_token_is_invalid(fb: GraphSandbox):
    page = fb.new_page()
    fb.admin("POST", "/revoke", token=page["page_token"])
    debug = fb.graph().debug_access_token
    info = debug(page["page_token"], fb.state.app_id, fb.state.app_secret)["data"]
    assert info["is_valid"] is False
    assert (info["error"]["code"], info["error"]["subcode"]) == (190, 458)
    unknown = debug("EAAbogus", fb.state.app_id, fb.state.app_secret)["data"]
    assert unknown["is_valid"] is False and unknown["error"]["code"] == 190


def test_debug_token_needs_the_app_secret(fb: GraphSandbox):
    page = fb.new_page()
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph().debug_access_token(page["page_token"], fb.state.app_id, "wrong")
    assert caught.value.code == 190


def test_cancel_redirects_back_with_user_denied(fb: GraphSandbox):
    back = consent(fb, decision="cancel")
    assert back["error"] == ["access_denied"]
    assert back["error_reason"] == ["user_denied"]
    assert back["state"] == ["xyz<&>"]
    assert "code" not in back


def test_an_existing_person_can_consent_again(fb: GraphSandbox):
    page = fb.new_page(name="Existing")
    user_id = page["user_id"]
    back = consent(fb, user_id=user_id)
    token = fb.graph().get_access_token_from_code(
        back["code"][0], REDIRECT, fb.state.app_id, fb.state.app_secret
    )["access_token"]
    assert fb.graph(token).get_object("me")["id"] == user_id
    names = [p["name"] for p in fb.graph(token).get_connections("me", "accounts")["data"]]
    assert names == ["Existing"]


def test_a_code_works_once(fb: GraphSandbox):
    back = consent(fb, new_user="Once")
    exchange = fb.graph().get_access_token_from_code
    exchange(back["code"][0], REDIRECT, fb.state.app_id, fb.state.app_secret)
    with pytest.raises(facebook.GraphAPIError) as caught:
        exchange(back["code"][0], REDIRECT, fb.state.app_id, fb.state.app_secret)
    assert (caught.value.code, caught.value.result["error"]["error_subcode"]) == (100, 36009)


def test_a_code_needs_the_same_redirect_uri(fb: GraphSandbox):
    back = consent(fb, new_user="Mismatch")
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph().get_access_token_from_code(
            back["code"][0], REDIRECT + "/other", fb.state.app_id, fb.state.app_secret
        )
    assert (caught.value.code, caught.value.result["error"]["error_subcode"]) == (100, 36008)


def test_a_made_up_code_is_error_100(fb: GraphSandbox):
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph().get_access_token_from_code(
            "AQnope", REDIRECT, fb.state.app_id, fb.state.app_secret
        )
    assert caught.value.code == 100


def test_a_wrong_secret_or_app_id_is_refused(fb: GraphSandbox):
    back = consent(fb, new_user="Secretive")
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph().get_access_token_from_code(back["code"][0], REDIRECT, fb.state.app_id, "no")
    assert caught.value.code == 1
    assert caught.value.message == "Error validating client secret."
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph().get_access_token_from_code(back["code"][0], REDIRECT, "42", "no")
    assert caught.value.code == 101


def test_the_dialog_refuses_an_unknown_app_or_a_bad_redirect(fb: GraphSandbox):
    url = f"{fb.url}/{GRAPH_VERSION}/dialog/oauth"
    wrong_app = requests.get(url, params={"client_id": "42", "redirect_uri": REDIRECT}, timeout=5)
    assert wrong_app.status_code == 400 and "Invalid App ID" in wrong_app.text
    bad_redirect = requests.get(
        url,
        params={"client_id": fb.state.app_id, "redirect_uri": "javascript:alert(1)"},
        timeout=5,
    )
    assert bad_redirect.status_code == 400 and "Can&#x27;t load URL" in bad_redirect.text


def test_a_login_without_page_permissions_cannot_post(fb: GraphSandbox):
    url = fb.graph().get_auth_url(fb.state.app_id, REDIRECT, ["pages_show_list"])
    answer = fb.session.post(
        url,
        data={"decision": "allow", "new_user": "Reader", "page_name": "Read Only"},
        allow_redirects=False,
        timeout=5,
    )
    code = re.search(r"code=([^&#]+)", answer.headers["location"]).group(1)  # type: ignore[union-attr]
    token = fb.graph().get_access_token_from_code(
        code, REDIRECT, fb.state.app_id, fb.state.app_secret
    )["access_token"]
    [entry] = fb.graph(token).get_connections("me", "accounts")["data"]
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(entry["access_token"]).put_object(entry["id"], "feed", message="x")
    assert caught.value.code == 200


def test_the_app_token_from_client_credentials_works_for_debug_token(fb: GraphSandbox):
    page = fb.new_page()
    app_token = fb.graph().get_app_access_token(fb.state.app_id, fb.state.app_secret)
    answer = fb.raw(
        "GET",
        f"/{GRAPH_VERSION}/debug_token",
        input_token=page["user_token"],
        access_token=app_token,
    )
    assert answer.json()["data"]["is_valid"] is True
