"""GraphState on its own: snapshots, reset, the timeline the sandbox page shows."""

from __future__ import annotations

import json

import pytest

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.state import GraphState
from tests.support.graph import START, HandClock, Options


def world() -> tuple[GraphState, HandClock]:
    clock = HandClock()
    return GraphState(Options(), clock), clock


def populated() -> tuple[GraphState, HandClock, dict]:
    state, clock = world()
    page = state.create_page("Bike Lanes", followers=2500)
    user_token = state.issue_user_token(page.admins[0], long_lived=True)
    page_token = state.page_token(user_token, page.id)
    first = state.publish(page.id, message="first", link="https://example.org")
    clock.advance(120)
    second = state.publish(page.id, message="second")
    later = state.publish(
        page.id, message="later", published=False, scheduled_publish_time=START + 7200
    )
    code = state.issue_code(page.admins[0], state.app_id, "https://a.example/cb", ["x"])
    return (
        state,
        clock,
        {
            "page": page,
            "user_token": user_token.value,
            "page_token": page_token.value,
            "posts": [first.id, second.id, later.id],
            "code": code,
        },
    )


def test_a_snapshot_survives_json_and_restores_the_same_world():
    state, clock, made = populated()
    clock.advance(3 * 3600)
    before = state.timeline()
    data = json.loads(json.dumps(state.snapshot()))
    fresh = GraphState(Options(), clock)
    fresh.restore(data)
    assert fresh.snapshot() == state.snapshot()
    assert fresh.timeline() == before  # same posts, same engagement (same seed and ids)
    assert fresh.validate(made["page_token"]).page_id == made["page"].id
    # New ids continue after the restored ones instead of colliding.
    new = fresh.publish(made["page"].id, message="after restore")
    assert new.id not in made["posts"]
    known = set(fresh.users)
    assert fresh.create_user("Someone").id not in known


def test_restore_replaces_whatever_was_there():
    state, _, made = populated()
    other, _ = world()
    other.create_page("Elsewhere")
    other.restore(state.snapshot())
    assert [p.name for p in other.pages.values()] == ["Bike Lanes"]


def test_reset_forgets_everything():
    state, _, made = populated()
    state.reset()
    assert state.timeline() == []
    with pytest.raises(errors.GraphError):
        state.validate(made["page_token"])
    assert state.create_page("Again").id == made["page"].id  # ids start over too


def test_the_timeline_lists_pages_with_visible_posts_newest_first():
    state, clock, made = populated()
    [entry] = state.timeline()
    assert entry["platform"] == "facebook"
    assert (entry["id"], entry["name"], entry["followers"]) == (
        made["page"].id,
        "Bike Lanes",
        2500,
    )
    assert [p["text"] for p in entry["posts"]] == ["second", "first"]
    post = entry["posts"][0]
    assert set(post) >= {"id", "text", "created_at", "url"}
    assert post["created_at"] == "2026-11-22T10:02:00+00:00"
    assert post["url"].startswith(f"https://www.facebook.com/{made['page'].id}/posts/")
    clock.advance(2 * 3600)
    assert [p["text"] for p in state.timeline()[0]["posts"]] == ["later", "second", "first"]


def test_engagement_is_the_same_for_the_same_post_and_grows_with_time():
    state, clock, made = populated()
    post = state.get_post(made["posts"][0])
    assert post is not None
    clock.advance(3600)
    one = state.engagement(post)
    assert one == state.engagement(post)
    clock.advance(24 * 3600)
    two = state.engagement(post)
    assert all(two[k] >= one[k] for k in one)
    assert two["post_media_view"] > one["post_media_view"]


def test_a_scheduled_post_has_no_engagement_before_it_goes_out():
    state, _, made = populated()
    later = state.get_post(made["posts"][2])
    assert later is not None
    assert set(state.engagement(later).values()) == {0}


def test_page_tokens_are_handed_out_again_rather_than_minted_per_call():
    state, _, made = populated()
    user_token = state.validate(made["user_token"])
    assert state.page_token(user_token, made["page"].id).value == made["page_token"]


def test_logging_out_ends_only_that_session():
    state, _, made = populated()
    assert state.revoke(made["user_token"], "logged_out") == 1
    assert state.validate(made["page_token"]).kind == "page"


def test_an_expired_login_code_cannot_be_redeemed():
    state, clock, made = populated()
    clock.advance(11 * 60)
    with pytest.raises(errors.GraphError) as caught:
        state.redeem_code(made["code"], "https://a.example/cb")
    assert caught.value.code == 100


def test_state_reads_its_settings_from_the_sandbox_options():
    options = Options(seed=99, fb_app_id="42", fb_app_secret="s3", duplicate_window_s=60)
    state = GraphState(options, HandClock())
    assert (state.app_id, state.app_secret, state.seed, state.duplicate_window) == (
        "42",
        "s3",
        99,
        60,
    )
    assert state.app_token() == "42|s3"


def test_creating_a_page_checks_its_inputs():
    state, _ = world()
    with pytest.raises(ValueError):
        state.create_page("  ")
    with pytest.raises(ValueError):
        state.create_page("Negative", followers=-1)
    with pytest.raises(KeyError):
        state.create_page("Orphan", user_id="404")
