"""The post fields and Page insights apps commonly ask Graph for, and field aliases
(``.as(name)``), answered in Graph's shapes through the real facebook-sdk."""

from __future__ import annotations

import facebook
import pytest

from tests.support.graph import GRAPH_VERSION, GraphSandbox


def link_post(fb: GraphSandbox) -> tuple[dict, facebook.GraphAPI, str]:
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    answer = graph.put_object(
        page["page_id"], "feed", message="Read the plan", link="https://union.example/plan?a=1"
    )
    return page, graph, answer["id"]


def test_a_link_post_has_its_share_attachment_and_pictures(fb: GraphSandbox) -> None:
    _, graph, post_id = link_post(fb)
    post = graph.get_object(post_id, fields="attachments,full_picture,picture")
    (attachment,) = post["attachments"]["data"]
    assert attachment["type"] == "share"
    assert attachment["unshimmed_url"] == "https://union.example/plan?a=1"
    assert attachment["url"].startswith("https://l.facebook.com/l.php?u=https%3A%2F%2Funion")
    assert attachment["title"] == "union.example"
    assert set(attachment["media"]["image"]) == {"height", "src", "width"}
    assert post["full_picture"].startswith("https://")
    assert post["picture"].startswith("https://") and post["picture"] != post["full_picture"]


def test_a_text_post_has_no_attachments_pictures_or_tags(fb: GraphSandbox) -> None:
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="Just words")["id"]
    fields = "attachments,full_picture,picture,message_tags"
    assert graph.get_object(post_id, fields=fields) == {"id": post_id}


def test_a_tagged_page_is_named_in_the_message_and_listed_in_message_tags(
    fb: GraphSandbox,
) -> None:
    page = fb.new_page("Clean Air Now")
    ally = fb.new_page("Bus Riders Union")
    graph = fb.graph(page["page_token"])
    message = f"Thanks @[{ally['page_id']}] for marching!"
    post_id = graph.put_object(page["page_id"], "feed", message=message)["id"]
    post = graph.get_object(post_id, fields="message,message_tags")
    assert post["message"] == "Thanks Bus Riders Union for marching!"
    assert post["message_tags"] == [
        {
            "id": ally["page_id"],
            "name": "Bus Riders Union",
            "type": "page",
            "offset": 7,
            "length": 16,
        }
    ]


def test_aliases_name_fields_and_let_one_edge_be_asked_for_twice(fb: GraphSandbox) -> None:
    _, graph, post_id = link_post(fb)
    fb.clock.advance(6 * 3600)
    fields = (
        "likes.summary(true).limit(0).as(total_likes),"
        "reactions.type(LIKE).summary(total_count).limit(0).as(like),"
        "reactions.type(LOVE).summary(total_count).limit(0).as(love),"
        "reactions.summary(total_count).limit(0),message.as(text)"
    )
    post = graph.get_object(post_id, fields=fields)
    assert set(post) == {"id", "total_likes", "like", "love", "reactions", "text"}
    total = post["reactions"]["summary"]["total_count"]
    like = post["like"]["summary"]["total_count"]
    love = post["love"]["summary"]["total_count"]
    assert total > 0 and like + love == total
    assert post["total_likes"]["summary"]["total_count"] == like
    assert post["text"] == "Read the plan"


def test_an_unknown_reaction_type_or_a_bad_alias_is_refused(fb: GraphSandbox) -> None:
    _, graph, post_id = link_post(fb)
    for fields in ("reactions.type(MEH)", "message.as(9lives)"):
        with pytest.raises(facebook.GraphAPIError) as refused:
            graph.get_object(post_id, fields=fields)
        assert refused.value.code == 100


def test_page_insights_answer_live_metrics_per_period(fb: GraphSandbox) -> None:
    page, graph, _ = link_post(fb)
    fb.clock.advance(2 * 86400)
    answer = graph.get_connections(
        page["page_id"], "insights", metric="page_media_view,page_post_engagements,page_follows",
        period="week",
    )  # fmt: skip
    assert [m["name"] for m in answer["data"]] == [
        "page_media_view",
        "page_post_engagements",
        "page_follows",
    ]
    for metric in answer["data"]:
        assert metric["period"] == "week"
        assert metric["id"] == f"{page['page_id']}/insights/{metric['name']}/week"
        assert len(metric["values"]) == 2
        assert all(set(v) == {"value", "end_time"} for v in metric["values"])
        assert metric["values"][-1]["end_time"].endswith("T08:00:00+0000")
    views = answer["data"][0]["values"][-1]["value"]
    assert views > 0
    assert answer["data"][2]["values"][-1]["value"] == 1000
    assert set(answer["paging"]) == {"previous", "next"}
    every_period = graph.get_connections(page["page_id"], "insights", metric="page_media_view")
    assert [m["period"] for m in every_period["data"]] == ["day", "week", "days_28"]


@pytest.mark.parametrize(
    ("metric", "code"),
    [("page_impressions", 100), ("page_fans", 100), ("page_engaged_users", 100), ("", 3001)],
)
def test_retired_or_missing_page_metrics_are_refused(
    fb: GraphSandbox, metric: str, code: int
) -> None:
    page = fb.new_page()
    answer = fb.raw(
        "GET", f"/{GRAPH_VERSION}/{page['page_id']}/insights",
        access_token=page["page_token"], metric=metric,
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


def test_page_insights_need_a_token_that_runs_the_page(fb: GraphSandbox) -> None:
    page = fb.new_page()
    other = fb.new_page("Another Page")
    answer = fb.raw(
        "GET", f"/{GRAPH_VERSION}/{page['page_id']}/insights",
        access_token=other["page_token"], metric="page_media_view",
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 10
