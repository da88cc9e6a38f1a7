"""The posts list and a post's page: what was queued, each delivery from the ledger, the
audit trail, and only the actions the person's role allows."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from bot.console.roles import Role
from bot.storage.models import AuditEntry, Delivery, DeliveryState, Post, PostState
from tests.support.console_posts import campaign_accounts, queued


def test_a_posts_page_shows_each_delivery_from_the_ledger(console):
    campaign_accounts(console)
    post_id = queued(console, thread=("1/ Ballot", "2/ Result"))
    with console.sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.platform == "x")
            .values(
                state=DeliveryState.SENT,
                attempts=1,
                platform_ids=["101", "102"],
                url="http://127.0.0.1:9/union/status/101",
            )
        )
        session.execute(
            update(Delivery)
            .where(Delivery.platform == "facebook")
            .values(state=DeliveryState.FAILED, attempts=3, error="token rejected (code 190)")
        )
        session.commit()
    page = console.client(Role.VIEWER).get(f"/console/posts/{post_id}")
    assert page.status_code == 200
    deliveries = page.text.split('id="deliveries-title"', 1)[1].split("</table>", 1)[0]
    assert "@union" in deliveries and "Union Page" in deliveries
    assert "<strong>sent</strong>" in deliveries and "<strong>failed</strong>" in deliveries
    assert "id 101, 102" in deliveries and "token rejected (code 190)" in deliveries
    assert 'href="http://127.0.0.1:9/union/status/101"' in deliveries
    assert "Europe/London" in page.text
    assert "post.create" in page.text and "cli:test" in page.text


def test_a_viewer_sees_a_post_without_edit_or_cancel(console):
    campaign_accounts(console)
    post_id = queued(console)
    viewer = console.client(Role.VIEWER).get(f"/console/posts/{post_id}").text
    editor = console.client(Role.EDITOR).get(f"/console/posts/{post_id}").text
    assert f"/console/posts/{post_id}/edit" not in viewer
    assert f"/console/posts/{post_id}/cancel" not in viewer
    assert f"/console/posts/{post_id}/edit" in editor
    assert f"/console/posts/{post_id}/cancel" in editor


def test_cancel_asks_first_then_cancels_and_records_who(console, form_token):
    campaign_accounts(console)
    post_id = queued(console)
    editor = console.client(Role.EDITOR)
    asked = editor.get(f"/console/posts/{post_id}/cancel")
    assert asked.status_code == 200 and "Cancel this post?" in asked.text
    assert "2 deliveries have not gone out yet" in asked.text
    with console.sessions() as session:
        assert session.get(Post, post_id).state == PostState.SCHEDULED  # asking changes nothing
    token = form_token(editor, f"/console/posts/{post_id}/cancel")
    done = editor.post(f"/console/posts/{post_id}/cancel", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    with console.sessions() as session:
        post = session.get(Post, post_id)
        assert post.state == PostState.CANCELLED
        assert {d.state for d in post.deliveries} == {DeliveryState.CANCELLED}
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "post.cancel"))
        assert entry.actor == "editor@example.org"
    page = editor.get(done.headers["location"])
    assert "Cancelled demo/demo-eve" in page.text and "post.cancel" in page.text


def test_the_posts_list_filters_like_the_calendar(console):
    campaign_accounts(console)
    queued(console, "Only on X", key="x-only", targets=("x",))
    queued(console, "Both platforms", key="both")
    viewer = console.client(Role.VIEWER)
    everything = viewer.get("/console/posts").text
    assert "Only on X" in everything and "Both platforms" in everything
    facebook = viewer.get("/console/posts?platform=facebook").text
    assert "Both platforms" in facebook and "Only on X" not in facebook
    sent = viewer.get("/console/posts?state=sent").text
    assert "No posts with these filters" in sent


def test_an_unknown_post_is_a_plain_not_found_page(console):
    page = console.client(Role.VIEWER).get("/console/posts/999")
    assert page.status_code == 404 and "No such post" in page.text


def test_a_post_that_has_all_gone_out_cannot_be_cancelled_into_saying_cancelled(
    console, form_token
):
    campaign_accounts(console)
    post_id = queued(console)
    with console.sessions() as session:
        session.execute(update(Delivery).values(state=DeliveryState.SENT, attempts=1))
        session.commit()
    editor = console.client(Role.EDITOR)
    asked = editor.get(f"/console/posts/{post_id}/cancel")
    assert "Nothing is left to cancel" in asked.text and "Yes, cancel it" not in asked.text
    token = form_token(editor, f"/console/posts/{post_id}")
    done = editor.post(f"/console/posts/{post_id}/cancel", data={"csrf": token, "confirm": "yes"})
    page = editor.get(done.headers["location"]).text
    assert "Nothing was cancelled" in page and "Cancelled demo/demo-eve" not in page
    with console.sessions() as session:
        assert session.get(Post, post_id).state == PostState.SCHEDULED
        assert not list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == "post.cancel"))
        )
    assert 'class="state-sent"' in editor.get("/console/posts").text


@pytest.mark.parametrize("number", ["2147483648", "9999999999", "99999999999999999999", "0"])
def test_a_post_number_no_row_can_have_is_a_plain_not_found_page(console, number):
    page = console.client(Role.VIEWER).get(f"/console/posts/{number}")
    assert page.status_code == 404
