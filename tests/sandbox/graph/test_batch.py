"""Reading many posts in one Graph call: ``GET /?ids=`` with insights by field expansion.

Graph's multi-id lookup answers an object keyed by id, at most 50 ids a call, and fails
the whole call when one id fails; ``insights.metric(...)`` as a field gives each post's
insights in the shape of the ``/{post-id}/insights`` edge.
"""

from __future__ import annotations

import facebook
import pytest

from tests.support.graph import GRAPH_VERSION, GraphSandbox

FIELDS = (
    "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0),"
    "insights.metric(post_media_view)"
)


def page_with_posts(fb: GraphSandbox, count: int, **page: object) -> tuple[dict, list[str]]:
    created = fb.new_page(**page)  # type: ignore[arg-type]
    graph = fb.graph(created["page_token"])
    ids = [
        graph.put_object(created["page_id"], "feed", message=f"post {n}")["id"]
        for n in range(count)
    ]
    return created, ids


def test_several_posts_come_back_keyed_by_id_with_summaries_and_insights(fb: GraphSandbox):
    page, ids = page_with_posts(fb, 3, followers=20_000)
    fb.clock.advance(6 * 3600)
    answer = fb.graph(page["page_token"]).get_objects(ids, fields=FIELDS)
    assert sorted(answer) == sorted(ids)
    for post_id, node in answer.items():
        assert node["id"] == post_id
        assert node["reactions"]["data"] == []
        assert node["reactions"]["summary"]["total_count"] > 0
        assert node["comments"]["summary"]["total_count"] >= 0
        [metric] = node["insights"]["data"]
        assert (metric["name"], metric["period"]) == ("post_media_view", "lifetime")
        assert metric["values"][0]["value"] > 0
        assert metric["id"] == f"{post_id}/insights/post_media_view/lifetime"


def test_the_expanded_insights_match_the_insights_edge(fb: GraphSandbox):
    page, [post_id] = page_with_posts(fb, 1, followers=5000)
    fb.clock.advance(3600)
    graph = fb.graph(page["page_token"])
    edge = graph.get_connections(post_id, "insights", metric="post_media_view")
    field = graph.get_object(post_id, fields="insights.metric(post_media_view)")["insights"]
    assert field["data"][0]["values"] == edge["data"][0]["values"]


def test_fifty_ids_are_one_call_and_fifty_one_are_refused(fb: GraphSandbox):
    page, ids = page_with_posts(fb, 51)
    graph = fb.graph(page["page_token"])
    assert len(graph.get_objects(ids[:50], fields="id")) == 50
    with pytest.raises(facebook.GraphAPIError) as caught:
        graph.get_objects(ids, fields="id")
    assert caught.value.code == 100
    assert "Maximum: 50. Provided: 51." in caught.value.message


def test_a_deleted_post_fails_the_whole_lookup_with_803_naming_it(fb: GraphSandbox):
    page, ids = page_with_posts(fb, 4)
    graph = fb.graph(page["page_token"])
    graph.delete_object(ids[1])
    graph.delete_object(ids[3])
    answer = fb.raw(
        "GET",
        f"/{GRAPH_VERSION}/",
        ids=",".join(ids),
        fields=FIELDS,
        access_token=page["page_token"],
    )
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert (error["code"], error["type"]) == (803, "OAuthException")
    assert error["message"] == (
        f"(#803) Some of the aliases you requested do not exist: {ids[1]},{ids[3]}"
    )
    assert error["fbtrace_id"]
    assert sorted(graph.get_objects([ids[0], ids[2]], fields="id")) == sorted([ids[0], ids[2]])


def test_another_pages_post_is_a_permission_error_alone_or_in_a_batch(fb: GraphSandbox):
    mine, my_ids = page_with_posts(fb, 2)
    _, [theirs] = page_with_posts(fb, 1)
    graph = fb.graph(mine["page_token"])
    for call in (
        lambda: graph.get_object(theirs, fields="id"),
        lambda: graph.get_objects([*my_ids, theirs], fields=FIELDS),
    ):
        with pytest.raises(facebook.GraphAPIError) as caught:
            call()
        assert caught.value.code == 10
        assert "Page Public Content Access" in caught.value.message
    # The Page's admin may read it with a user token; the Page's own token may too.
    assert graph.get_objects(my_ids, fields="id")
    assert fb.graph(mine["user_token"]).get_object(my_ids[0], fields="id")["id"] == my_ids[0]


def test_insights_as_a_field_need_a_metric(fb: GraphSandbox):
    page, [post_id] = page_with_posts(fb, 1)
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["page_token"]).get_objects([post_id], fields="id,insights")
    assert caught.value.code == 100
    assert "The parameter metric is required" in caught.value.message


def test_a_metric_retired_at_run_time_fails_the_batch_with_the_invalid_metric_error(
    fb: GraphSandbox,
):
    page, ids = page_with_posts(fb, 2)
    graph = fb.graph(page["page_token"])
    answer = fb.admin("POST", "/insights", retired=["post_media_view"])
    assert answer.json() == {
        "retired": ["post_media_view"],
        "live": ["post_reactions_by_type_total"],
    }
    with pytest.raises(facebook.GraphAPIError) as caught:
        graph.get_objects(ids, fields=FIELDS)
    assert caught.value.code == 100
    assert "valid insights metric" in caught.value.message
    # Without the retired metric the same posts still read.
    assert (
        len(graph.get_objects(ids, fields="shares,insights.metric(post_reactions_by_type_total)"))
        == 2
    )
    assert fb.admin("POST", "/insights", retired=["no_such"]).status_code == 400


def test_a_lookup_is_one_call_against_the_page_rate_limit(fb: GraphSandbox):
    page, ids = page_with_posts(fb, 20)
    fb.admin("POST", "/limits", page_calls=1)
    graph = fb.graph(page["page_token"])
    assert len(graph.get_objects(ids, fields=FIELDS)) == 20
    with pytest.raises(facebook.GraphAPIError) as caught:
        graph.get_objects(ids, fields=FIELDS)
    assert caught.value.code == 32
