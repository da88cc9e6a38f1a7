"""The Graph sandbox answers like Graph's documented shapes
(tests/fixtures/contracts/documented/graph.json): same status, same JSON structure."""

from __future__ import annotations

import json
from typing import Any

from tests.support.contracts import CONTRACTS, shape
from tests.support.graph import GRAPH_VERSION, GraphSandbox

DOCUMENTED = CONTRACTS / "documented"
ENGAGEMENT = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"


def documented() -> dict[str, dict[str, Any]]:
    data = json.loads((DOCUMENTED / "graph.json").read_text())
    return {i["name"]: i["response"] for i in data["interactions"]}


def test_the_sandbox_answers_in_the_documented_shapes(fb: GraphSandbox) -> None:
    expected = documented()
    page = fb.new_page(followers=50_000)
    token = page["page_token"]
    base = f"/{GRAPH_VERSION}"
    created = fb.raw("POST", f"{base}/{page['page_id']}/feed", access_token=token, message="Hi")
    post_id = created.json()["id"]
    fb.clock.advance(2 * 86400)
    answers = {
        "create": created,
        "engagement": fb.raw("GET", f"{base}/{post_id}", access_token=token, fields=ENGAGEMENT),
        "page_insights": fb.raw(
            "GET",
            f"{base}/{page['page_id']}/insights",
            access_token=token,
            metric="page_media_view",
            period="day",
        ),  # fmt: skip
        "invalid_appsecret_proof": fb.raw(
            "GET", f"{base}/{page['page_id']}", access_token=token, appsecret_proof="0000"
        ),
        "invalid_token": fb.raw("GET", f"{base}/me", access_token="nonsense"),
    }
    assert set(answers) == set(expected)
    for name, response in answers.items():
        assert response.status_code == expected[name]["status"], name
        assert shape(response.json()) == shape(expected[name]["body"]), name
    for name in ("invalid_appsecret_proof", "invalid_token"):
        got, want = answers[name].json()["error"], expected[name]["body"]["error"]
        assert (got["message"], got["type"], got["code"]) == (
            want["message"],
            want["type"],
            want["code"],
        )
