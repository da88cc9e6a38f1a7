"""Facebook engagement in batches: one Graph call per 50 posts of a Page, insights included.

Over real HTTP against the sandbox, through facebook-sdk. ``metrics.calls`` counts the
Graph calls the reader made.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.platforms.base import AuthError, Credentials, PermanentError
from bot.platforms.facebook import FacebookMetrics, FacebookPlatform
from bot.platforms.facebook.metrics import INSIGHTS_PAUSE_SECONDS, REFUSED_PAUSE_SECONDS, _named
from bot.sandbox.testing import running_sandbox

LOOKUP = r"^/v[0-9.]+/$"


@pytest.fixture(scope="module")
def sandbox() -> Any:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture(autouse=True)
def no_leftovers(sandbox: Any) -> Any:
    yield
    sandbox.admin.clear_scripts()
    retire(sandbox, [])


def retire(sandbox: Any, metrics: list[str]) -> None:
    sandbox.admin._call("POST", "/facebook/insights", json={"retired": metrics})


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def page_posts(sandbox: Any, count: int) -> tuple[FacebookPlatform, Credentials, list[str]]:
    fb = FacebookPlatform(graph_base_url=sandbox.url, www_base_url=sandbox.url)
    page = sandbox.admin.create_page("Reader Page", followers=20000)
    creds = Credentials(page["page_token"], "", page["page_id"])
    ids = [fb.publish(creds, f"Rally at noon, post {n}").platform_id for n in range(count)]
    sandbox.admin.advance_clock(7200)
    return fb, creds, ids


def graph_error(code: int, message: str) -> dict[str, Any]:
    body = {"error": {"message": message, "type": "OAuthException", "code": code}}
    return {"status": 400, "body": body}


def test_fifty_posts_with_fields_and_insights_are_one_call(sandbox):
    fb, creds, ids = page_posts(sandbox, 50)
    metrics = FacebookMetrics(fb)
    readings = metrics.read(creds, ids)
    assert metrics.calls == 1
    assert [r.platform_id for r in readings] == ids
    for reading in readings:
        assert set(reading.values) == {"likes", "reposts", "replies", "views"}
        assert reading.values["views"] and reading.sources["views"] == "graph.insights"
        assert reading.values["likes"] is not None and reading.sources["likes"] == "graph.fields"
        assert reading.values["replies"] is not None and not reading.deleted
    with pytest.raises(ValueError):
        metrics.read(creds, [*ids, "1_2"])
    assert metrics.calls == 1  # 51 ids never reach Graph


def test_deleted_posts_in_a_batch_are_marked_and_the_rest_read_in_a_few_calls(sandbox):
    fb, creds, ids = page_posts(sandbox, 10)
    for gone in (ids[2], ids[7]):
        fb.graph_client(creds.token).delete_object(gone)
    metrics = FacebookMetrics(fb)
    readings = {r.platform_id: r for r in metrics.read(creds, ids)}
    assert {i for i, r in readings.items() if r.deleted} == {ids[2], ids[7]}
    assert all(readings[i].values["views"] for i in ids if i not in (ids[2], ids[7]))
    # The failed lookup, each named id alone, then the other eight together.
    assert metrics.calls == 4


def test_a_deleted_post_graph_does_not_name_is_found_by_halving(sandbox):
    fb, creds, ids = page_posts(sandbox, 8)
    fb.graph_client(creds.token).delete_object(ids[5])
    quiet = graph_error(803, "(#803) Some of the aliases you requested do not exist")
    sandbox.admin.script("facebook", "GET", LOOKUP, [quiet])
    metrics = FacebookMetrics(fb)
    readings = {r.platform_id: r for r in metrics.read(creds, ids)}
    assert [i for i, r in readings.items() if r.deleted] == [ids[5]]
    assert len(readings) == 8
    assert metrics.calls <= 1 + 2 * 3  # halving 8 ids: at most two calls a level


def test_a_metric_graph_retires_becomes_unavailable_not_zero_and_is_not_asked_again(sandbox):
    fb, creds, ids = page_posts(sandbox, 3)
    retire(sandbox, ["post_media_view"])
    clock = Clock()
    metrics = FacebookMetrics(fb, clock=clock)
    readings = metrics.read(creds, ids)
    assert [(r.values["views"], r.sources["views"]) for r in readings] == [
        (None, "graph.unavailable")
    ] * 3
    assert all(r.values["likes"] is not None for r in readings)
    assert metrics.calls == 2  # refused with insights, read again without
    metrics.read(creds, ids)
    assert metrics.calls == 3  # one call: insights are not asked for again today
    retire(sandbox, [])
    clock.t += INSIGHTS_PAUSE_SECONDS
    [first, *_] = metrics.read(creds, ids)
    assert first.values["views"] and metrics.calls == 4


def test_insights_without_the_metric_leave_views_unavailable(sandbox):
    fb, creds, [post_id] = page_posts(sandbox, 1)
    node = {
        "id": post_id,
        "reactions": {"data": [], "summary": {"total_count": 12}},
        "comments": {"data": [], "summary": {"total_count": 3}},
        "insights": {"data": []},
    }
    sandbox.admin.script("facebook", "GET", LOOKUP, [{"status": 200, "body": {post_id: node}}])
    [reading] = FacebookMetrics(fb).read(creds, [post_id])
    assert reading.values == {"likes": 12, "reposts": 0, "replies": 3, "views": None}
    assert reading.sources["views"] == "graph.unavailable"


def test_a_token_without_insights_reads_the_rest_and_pauses_insights_for_that_page(sandbox):
    fb, creds, ids = page_posts(sandbox, 4)
    refused = graph_error(10, "(#10) Requires read_insights permission")
    sandbox.admin.script("facebook", "GET", LOOKUP, [refused] * 3)
    metrics = FacebookMetrics(fb)
    readings = metrics.read(creds, ids)
    assert len(readings) == 4 and all(r.values["views"] is None for r in readings)
    assert all(r.values["likes"] is not None for r in readings)
    assert metrics.calls == 4  # the batch, both halves, then without insights
    metrics.read(creds, ids)
    assert metrics.calls == 5  # one call: insights are not asked for this Page today
    other = Credentials("another token", "", "another page")
    assert metrics._insights_allowed(metrics._key(other))


def test_another_pages_post_in_a_batch_is_left_unread_and_the_rest_read(sandbox):
    fb, creds, ids = page_posts(sandbox, 6)
    _, _, [theirs] = page_posts(sandbox, 1)
    metrics = FacebookMetrics(fb)
    readings = metrics.read(creds, [*ids, theirs])
    assert sorted(r.platform_id for r in readings) == sorted(ids)
    assert all(r.values["views"] for r in readings)
    assert metrics.calls <= 1 + 2 * 3


def test_a_token_refused_for_every_post_is_one_auth_error_without_the_token(sandbox):
    fb, creds, ids = page_posts(sandbox, 50)
    refused = graph_error(10, f"(#10) Permission denied for {creds.token}")
    sandbox.admin.script("facebook", "GET", LOOKUP, [refused] * 6)
    metrics = FacebookMetrics(fb)
    with pytest.raises(AuthError) as caught:
        metrics.read(creds, ids)
    assert creds.token not in str(caught.value) and "***" in caught.value.message
    assert metrics.calls == 6  # with insights: batch + halves; the same without


def test_a_dead_token_is_not_searched_post_by_post_nor_tried_again_for_an_hour(sandbox):
    fb, creds, ids = page_posts(sandbox, 10)
    sandbox.admin.revoke("facebook", creds.token)
    clock = Clock()
    metrics = FacebookMetrics(fb, clock=clock)
    with pytest.raises(AuthError):
        metrics.read(creds, ids)
    assert metrics.calls == 1
    with pytest.raises(AuthError):
        metrics.read(creds, ids[:3])  # another batch of the same Page: no call
    assert metrics.calls == 1
    clock.t += REFUSED_PAUSE_SECONDS
    with pytest.raises(AuthError):
        metrics.read(creds, ids)
    assert metrics.calls == 2


def test_a_reconnected_page_is_read_at_once_with_its_new_token(sandbox):
    fb, creds, ids = page_posts(sandbox, 2)
    metrics = FacebookMetrics(fb)
    refused = graph_error(190, "(#190) Error validating access token")
    sandbox.admin.script("facebook", "GET", LOOKUP, [refused])
    with pytest.raises(AuthError):
        metrics.read(creds, ids)
    new_token = Credentials("another token", "", creds.platform_user_id)
    assert metrics._key(new_token) != metrics._key(creds)
    assert creds.token not in metrics._key(creds)
    with pytest.raises(AuthError):
        metrics.read(creds, ids)
    assert metrics.calls == 1
    sandbox.admin.script("facebook", "GET", LOOKUP, [{"status": 200, "body": {}}])
    assert metrics.read(new_token, ids) == []  # asked Graph again, with the new token
    assert metrics.calls == 2


def test_one_foreign_post_alone_does_not_stop_the_pages_other_batches(sandbox):
    fb, creds, ids = page_posts(sandbox, 3)
    _, _, [theirs] = page_posts(sandbox, 1)
    metrics = FacebookMetrics(fb)
    with pytest.raises(AuthError):
        metrics.read(creds, [theirs])
    assert len(metrics.read(creds, ids)) == 3


def test_graph_names_missing_ids_exactly_not_as_prefixes():
    message = "(#803) Some of the aliases you requested do not exist: 1_23,1_4"
    assert _named(message, ["1_2", "1_23", "1_4", "1_45"]) == ["1_23", "1_4"]
    assert _named("Object with ID '1_2' does not exist", ["1_2", "1_3"]) == ["1_2"]
    wrapped = f"Facebook has no object with that id ({message})"  # as the adapter words it
    assert _named(wrapped, ["1_4", "1_23"]) == ["1_23", "1_4"]


@pytest.mark.parametrize(
    "message",
    [
        "(#100) Tried accessing nonexisting field (insights) on node type (PagePost)",
        "(#100) For field 'insights': The parameter metric is required",
    ],
)
def test_a_graph_without_the_insights_field_still_gives_the_counts(sandbox, message):
    fb, creds, ids = page_posts(sandbox, 2)
    sandbox.admin.script("facebook", "GET", LOOKUP, [graph_error(100, message)])
    metrics = FacebookMetrics(fb)
    readings = metrics.read(creds, ids)
    assert [r.values["views"] for r in readings] == [None, None]
    assert all(r.values["likes"] is not None for r in readings)
    assert metrics.calls == 2


def test_any_other_invalid_parameter_fails_the_batch(sandbox):
    fb, creds, ids = page_posts(sandbox, 2)
    sandbox.admin.script("facebook", "GET", LOOKUP, [graph_error(100, "(#100) Invalid fields")])
    with pytest.raises(PermanentError):
        FacebookMetrics(fb).read(creds, ids)
