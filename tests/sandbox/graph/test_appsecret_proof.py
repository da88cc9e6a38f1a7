"""appsecret_proof (https://developers.facebook.com/docs/graph-api/securing-requests):
Graph checks it whenever a call carries one, and requires it when the app says so."""

from __future__ import annotations

import hashlib
import hmac

from tests.support.graph import GRAPH_VERSION, GraphSandbox


def proof(token: str, secret: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def test_a_correct_proof_is_accepted(fb: GraphSandbox) -> None:
    page = fb.new_page()
    token = page["page_token"]
    answer = fb.raw(
        "GET",
        f"/{GRAPH_VERSION}/{page['page_id']}",
        access_token=token,
        appsecret_proof=proof(token, fb.state.app_secret),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["id"] == page["page_id"]


def test_a_wrong_proof_is_refused_as_graph_refuses_it(fb: GraphSandbox) -> None:
    page = fb.new_page()
    token = page["page_token"]
    for wrong in (
        proof(token, "another app's secret"),
        proof("another token", fb.state.app_secret),
    ):
        answer = fb.raw(
            "POST",
            f"/{GRAPH_VERSION}/{page['page_id']}/feed",
            access_token=token,
            message="not posted",
            appsecret_proof=wrong,
        )
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == 100
        assert error["type"] == "GraphMethodException"
        assert error["message"] == "Invalid appsecret_proof provided in the API argument"
    assert fb.state.feed(page["page_id"]) == []


def test_without_a_proof_a_call_passes_unless_the_app_requires_one(fb: GraphSandbox) -> None:
    page = fb.new_page()
    path = f"/{GRAPH_VERSION}/{page['page_id']}"
    assert fb.raw("GET", path, access_token=page["page_token"]).status_code == 200
    fb.state.require_appsecret_proof = True
    refused = fb.raw("GET", path, access_token=page["page_token"])
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == 100
    assert "appsecret_proof" in refused.json()["error"]["message"]
