"""Posting to a Page and reading it back, through the real facebook-sdk over HTTP."""

from __future__ import annotations

import json

import facebook
import pytest

from tests.support.graph import GRAPH_VERSION, START, GraphSandbox

ENGAGEMENT = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"


def test_it_creates_a_feed_post_and_answers_with_page_and_post_ids(fb: GraphSandbox):
    page = fb.new_page()
    answer = fb.graph(page["page_token"]).put_object(page["page_id"], "feed", message="Hello")
    page_id, _, post_id = answer["id"].partition("_")
    assert page_id == page["page_id"] and post_id.isdigit()
    assert list(answer) == ["id"]
    post = fb.graph(page["page_token"]).get_object(answer["id"])
    assert post == {
        "created_time": "2026-11-22T10:00:00+0000",
        "message": "Hello",
        "id": answer["id"],
    }
    assert fb.dirty, "a new post must be marked for persistence"


def test_it_keeps_the_link_of_a_link_post(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    answer = graph.put_object(
        page["page_id"], "feed", message="Read this", link="https://example.org/a"
    )
    post = graph.get_object(answer["id"], fields="id,message,link,permalink_url,status_type")
    assert post["link"] == "https://example.org/a"
    assert post["status_type"] == "shared_story"
    assert post["permalink_url"] == (
        f"https://www.facebook.com/{page['page_id']}/posts/{answer['id'].split('_')[1]}"
    )


def test_a_scheduled_post_stays_off_the_feed_until_its_time(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    when = int(START) + 3600
    answer = graph.put_object(
        page["page_id"],
        "feed",
        message="Later",
        published="false",
        scheduled_publish_time=str(when),
    )
    post = graph.get_object(answer["id"], fields="id,is_published,scheduled_publish_time")
    assert post == {"id": answer["id"], "is_published": False, "scheduled_publish_time": when}
    assert graph.get_connections(page["page_id"], "feed")["data"] == []
    fb.clock.advance(3600)
    feed = graph.get_connections(page["page_id"], "feed")["data"]
    assert [p["id"] for p in feed] == [answer["id"]]
    assert feed[0]["created_time"] == "2026-11-22T11:00:00+0000"


@pytest.mark.parametrize("ahead", [60, 31 * 24 * 3600])
def test_it_rejects_a_schedule_under_10_minutes_or_over_30_days_ahead(fb: GraphSandbox, ahead):
    page = fb.new_page()
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["page_token"]).put_object(
            page["page_id"],
            "feed",
            message="x",
            published="false",
            scheduled_publish_time=str(int(START) + ahead),
        )
    assert caught.value.code == 100
    assert "scheduled publish time" in caught.value.message


def test_it_rejects_a_scheduled_time_on_a_published_post(fb: GraphSandbox):
    page = fb.new_page()
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["page_token"]).put_object(
            page["page_id"], "feed", message="x", scheduled_publish_time=str(int(START) + 3600)
        )
    assert caught.value.code == 100


def test_the_feed_lists_posts_newest_first_with_the_exact_message(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    ids = []
    for text in ["first  post", "second ✊ post", "third"]:
        ids.append(graph.put_object(page["page_id"], "feed", message=text)["id"])
        fb.clock.advance(60)
    for edge in ("feed", "posts"):
        data = graph.get_connections(
            page["page_id"], edge, fields="id,message,created_time", since=str(int(START) + 30)
        )["data"]
        assert [p["id"] for p in data] == [ids[2], ids[1]]
        assert [p["message"] for p in data] == ["third", "second ✊ post"]


def test_the_feed_pages_through_every_post_with_next_links(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    ids = [graph.put_object(page["page_id"], "feed", message=f"post {i}")["id"] for i in range(7)]
    first = graph.get_connections(page["page_id"], "feed", limit="3")
    assert len(first["data"]) == 3 and "next" in first["paging"]
    every = list(graph.get_all_connections(page["page_id"], "feed", limit="3"))
    assert [p["id"] for p in every] == list(reversed(ids))


def test_the_feed_honours_until(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    old = graph.put_object(page["page_id"], "feed", message="old")["id"]
    fb.clock.advance(600)
    graph.put_object(page["page_id"], "feed", message="new")
    data = graph.get_connections(page["page_id"], "feed", until=str(int(START) + 60))["data"]
    assert [p["id"] for p in data] == [old]


def test_engagement_grows_with_the_sandbox_clock_in_the_documented_shapes(fb: GraphSandbox):
    page = fb.new_page(followers=50_000)
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="Join us")["id"]
    at_once = graph.get_object(post_id, fields=ENGAGEMENT)
    assert "shares" not in at_once  # Graph leaves shares out when there are none
    assert at_once["reactions"] == {
        "data": [],
        "summary": {"total_count": 0, "viewer_reaction": "NONE"},
    }
    assert at_once["comments"]["summary"]["total_count"] == 0
    fb.clock.advance(2 * 24 * 3600)
    later = graph.get_object(post_id, fields=ENGAGEMENT)
    assert later["shares"]["count"] > 0
    assert later["reactions"]["summary"]["total_count"] > 0
    assert later["comments"]["summary"]["total_count"] > 0
    assert later["id"] == post_id


def test_insights_report_post_media_view_in_graphs_insights_shape(fb: GraphSandbox):
    page = fb.new_page(followers=10_000)
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="Views")["id"]
    fb.clock.advance(6 * 3600)
    answer = graph.get_connections(post_id, "insights", metric="post_media_view")
    assert [m["name"] for m in answer["data"]] == ["post_media_view"]
    metric = answer["data"][0]
    assert metric["period"] == "lifetime"
    assert metric["values"][0]["value"] > 0
    assert metric["id"] == f"{post_id}/insights/post_media_view/lifetime"
    assert set(metric) >= {"name", "period", "values", "title", "id"}


def test_insights_naming_any_retired_or_unknown_metric_is_a_code_100_error(fb: GraphSandbox):
    # Pages API changelog (Nov 2025): "the API will return an invalid metric error when
    # calling any of these metrics", even beside a live one.
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="Views")["id"]
    for metric in (
        "post_impressions",
        "post_media_view,no_such_metric",
        "post_media_view,post_impressions",
    ):
        with pytest.raises(facebook.GraphAPIError) as caught:
            graph.get_connections(post_id, "insights", metric=metric)
        assert caught.value.code == 100


def test_a_deleted_post_no_longer_exists(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="Oops")["id"]
    assert graph.delete_object(post_id) == {"success": True}
    answer = fb.raw("GET", f"/{GRAPH_VERSION}/{post_id}", access_token=page["page_token"])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )
    assert f"Object with ID '{post_id}' does not exist" in error["message"]
    assert error["fbtrace_id"]
    assert graph.get_connections(page["page_id"], "feed")["data"] == []


def test_the_page_answers_verify_style_field_requests(fb: GraphSandbox):
    page = fb.new_page(name="Parents for Parks", followers=321)
    me = fb.graph(page["page_token"]).get_object("me", fields="id,name,followers_count,fan_count")
    assert me == {
        "id": page["page_id"],
        "name": "Parents for Parks",
        "followers_count": 321,
        "fan_count": 321,
    }


def test_an_unknown_field_names_the_node_type(fb: GraphSandbox):
    page = fb.new_page()
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["page_token"]).get_object(page["page_id"], fields="id,bogus")
    assert caught.value.code == 100
    assert "(bogus) on node type (Page)" in caught.value.message


def test_every_page_token_call_reports_business_use_case_usage(fb: GraphSandbox):
    page = fb.new_page()
    answer = fb.raw("GET", f"/{GRAPH_VERSION}/me", access_token=page["page_token"])
    assert answer.status_code == 200
    parsed = json.loads(answer.headers["X-Business-Use-Case-Usage"])
    entry = parsed[page["page_id"]][0]
    assert set(entry) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }
    assert entry["type"] == "pages"
    assert answer.headers["facebook-api-version"] == GRAPH_VERSION


def test_scheduled_posts_lists_what_facebook_still_holds(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    graph.put_object(page["page_id"], "feed", message="now")
    held = graph.put_object(
        page["page_id"],
        "feed",
        message="held",
        published="false",
        scheduled_publish_time=str(int(START) + 1800),
    )["id"]
    listed = graph.get_connections(page["page_id"], "scheduled_posts", fields="id,message")
    assert listed["data"] == [{"id": held, "message": "held"}]
    fb.clock.advance(1800)
    assert graph.get_connections(page["page_id"], "scheduled_posts")["data"] == []
    with pytest.raises(facebook.GraphAPIError) as caught:
        fb.graph(page["user_token"]).get_connections(page["page_id"], "scheduled_posts")
    assert caught.value.code == 190


def test_several_objects_come_back_keyed_by_id(fb: GraphSandbox):
    page = fb.new_page(name="Many")
    graph = fb.graph(page["page_token"])
    post_id = graph.put_object(page["page_id"], "feed", message="one of many")["id"]
    both = graph.get_objects([page["page_id"], post_id])
    assert both[page["page_id"]] == {"name": "Many", "id": page["page_id"]}
    assert both[post_id]["message"] == "one of many"


def test_user_token_calls_report_app_usage_and_the_api_version(fb: GraphSandbox):
    page = fb.new_page()
    answer = fb.raw("GET", f"/{GRAPH_VERSION}/me", access_token=page["user_token"])
    assert set(json.loads(answer.headers["X-App-Usage"])) == {
        "call_count",
        "total_cputime",
        "total_time",
    }
    assert fb.graph(page["user_token"]).get_version() == GRAPH_VERSION.lstrip("v")


def test_since_also_accepts_an_iso_time(fb: GraphSandbox):
    page = fb.new_page()
    graph = fb.graph(page["page_token"])
    graph.put_object(page["page_id"], "feed", message="before")
    fb.clock.advance(3600)
    after = graph.put_object(page["page_id"], "feed", message="after")["id"]
    data = graph.get_connections(page["page_id"], "feed", since="2026-11-22T10:30:00+00:00")
    assert [p["id"] for p in data["data"]] == [after]
    with pytest.raises(facebook.GraphAPIError) as caught:
        graph.get_connections(page["page_id"], "feed", since="yesterday-ish")
    assert caught.value.code == 100
