"""The Graph half inside the full sandbox server (bot.sandbox.testing.running_sandbox).

These check the wiring the other tests cannot: Graph routes next to the X API on one
port, the shared admin API and timeline, the sandbox clock, faults on Graph paths, and
--state persistence of Facebook data across a restart.
"""

from __future__ import annotations

from collections.abc import Iterator

import facebook
import pytest
import requests

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle, running_sandbox
from tests.support.graph import GRAPH_VERSION, rerouted_session


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def graph(handle: SandboxHandle, token: str) -> facebook.GraphAPI:
    api = facebook.GraphAPI(access_token=token, timeout=5, session=rerouted_session(handle.url))
    api.version = GRAPH_VERSION
    return api


def test_a_post_through_the_full_server_shows_in_admin_posts_and_timeline(sandbox):
    page = sandbox.admin.create_page("Quiet Streets", followers=4000)
    post_id = graph(sandbox, page["page_token"]).put_object(
        page["page_id"], "feed", message="Car-free Sunday <b>10:00</b>"
    )["id"]
    [listed] = sandbox.admin.posts("facebook", page["page_id"])
    assert (listed["id"], listed["text"]) == (post_id, "Car-free Sunday <b>10:00</b>")
    accounts = [a for a in sandbox.admin.timeline() if a["platform"] == "facebook"]
    assert [a["name"] for a in accounts] == ["Quiet Streets"]
    html = requests.get(f"{sandbox.url}/_sandbox/", timeout=5).text
    assert "Car-free Sunday &lt;b&gt;10:00&lt;/b&gt;" in html


def test_engagement_follows_the_sandbox_clock(sandbox):
    page = sandbox.admin.create_page("Clocked", followers=20_000)
    api = graph(sandbox, page["page_token"])
    post_id = api.put_object(page["page_id"], "feed", message="tick")["id"]
    fields = "reactions.summary(total_count).limit(0)"
    before = api.get_object(post_id, fields=fields)["reactions"]["summary"]["total_count"]
    sandbox.admin.advance_clock(3 * 24 * 3600)
    after = api.get_object(post_id, fields=fields)["reactions"]["summary"]["total_count"]
    assert after > before


def test_the_shared_revoke_endpoint_revokes_facebook_tokens(sandbox):
    page = sandbox.admin.create_page("Revoked")
    sandbox.admin.revoke("facebook", page["page_token"])
    with pytest.raises(facebook.GraphAPIError) as caught:
        graph(sandbox, page["page_token"]).get_object("me")
    assert caught.value.code == 190


def test_scripted_graph_errors_reach_facebook_sdk(sandbox):
    page = sandbox.admin.create_page("Scripted")
    body = {"error": {"message": "(#17) User request limit reached", "code": 17, "type": "x"}}
    sandbox.admin.script(
        "facebook", "POST", r"/feed$", [{"status": 400, "headers": {}, "body": body}]
    )
    api = graph(sandbox, page["page_token"])
    with pytest.raises(facebook.GraphAPIError) as caught:
        api.put_object(page["page_id"], "feed", message="scripted")
    assert caught.value.code == 17
    # The script is used up: the next post goes through.
    assert api.put_object(page["page_id"], "feed", message="scripted")["id"]


def test_facebook_data_survives_a_restart_with_a_state_file(tmp_path):
    state_file = str(tmp_path / "sandbox.sqlite")
    with running_sandbox(SandboxOptions(state_file=state_file)) as first:
        page = first.admin.create_page("Persistent", followers=77)
        post_id = graph(first, page["page_token"]).put_object(
            page["page_id"], "feed", message="still here"
        )["id"]
    with running_sandbox(SandboxOptions(state_file=state_file)) as second:
        api = graph(second, page["page_token"])
        assert api.get_object(post_id)["message"] == "still here"
        assert api.get_object("me", fields="followers_count")["followers_count"] == 77
