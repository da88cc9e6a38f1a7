"""The composer: one form for a post or a thread, checked like `posts add`, problems shown
beside their field and nothing stored until it is right."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.console.roles import Role
from bot.storage.models import AuditEntry, Delivery, DeliveryState, Post
from tests.support.console_posts import ZONE, campaign_accounts, compose_form, queued
from tests.support.factories import add_account


@pytest.fixture
def editor(console):
    campaign_accounts(console)
    return console.client(Role.EDITOR)


def _soon(console, hours: int = 3):
    return (console.clock.now + timedelta(hours=hours)).astimezone(ZoneInfo(ZONE))


def _post_count(console) -> int:
    with console.sessions() as session:
        return session.scalar(select(func.count()).select_from(Post)) or 0


def _beside(page: str, field: str) -> str:
    """The text of the error block beside ``field`` (empty when there is none)."""
    match = re.search(rf'<div class="field-error" id="{field}-error">(.*?)</div>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def test_an_editor_schedules_a_thread_and_lands_on_its_page(console, editor, form_token):
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "1/ Ballot result: 87% yes",
        "2/ Turnout 71%",
        when=_soon(console),
        link="https://union.example.org/ballot",
    )
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 303
    assert re.fullmatch(r"/console/posts/\d+", answer.headers["location"])
    with console.sessions() as session:
        post = session.scalars(select(Post)).one()
        assert post.kind == "thread" and post.created_by == "editor@example.org"
        assert post.parts["x"] == [
            "1/ Ballot result: 87% yes\nhttps://union.example.org/ballot",
            "2/ Turnout 71%",
        ]
        assert post.parts["facebook"] == ["Ballot result: 87% yes\n\nTurnout 71%"]
        assert sorted(d.platform for d in post.deliveries) == ["facebook", "x"]
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "post.create"))
        assert entry.actor == "editor@example.org" and entry.subject == f"post:{post.id}"
    page = editor.get(answer.headers["location"])
    assert "Scheduled demo/" in page.text and "post.create" in page.text


def test_a_thread_can_go_to_the_campaigns_mastodon_account_too(console, editor, form_token):
    add_account(console.sessions, console.runtime.vault, "mastodon", "union@union.social")
    page = editor.get("/console/posts/new").text
    assert 'value="mastodon:@union@union.social"' in page and "on Mastodon" in page
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "1/ Ballot result: 87% yes",
        "2/ Turnout 71%",
        when=_soon(console),
        to=("x:@union", "mastodon:@union@union.social"),
    )
    assert editor.post("/console/posts/new", data=form).status_code == 303
    with console.sessions() as session:
        post = session.scalars(select(Post)).one()
        assert post.parts["mastodon"] == ["1/ Ballot result: 87% yes", "2/ Turnout 71%"]
        assert sorted(d.platform for d in post.deliveries) == ["mastodon", "x"]


def test_a_thread_can_go_to_the_campaigns_bluesky_account_too_but_is_not_ticked_for_it(
    console, editor, form_token
):
    add_account(console.sessions, console.runtime.vault, "bluesky", "union.bsky.social")
    page = editor.get("/console/posts/new").text
    assert 'value="bluesky:@union.bsky.social"' in page and "on Bluesky" in page
    assert "(Facebook Page)" not in page.split('value="bluesky:')[1].split("</label>")[0]
    assert 'value="bluesky:@union.bsky.social" checked' not in page
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "1/ Ballot result: 87% yes",
        "2/ Turnout 71%",
        when=_soon(console),
        to=("x:@union", "bluesky:@union.bsky.social"),
    )
    assert editor.post("/console/posts/new", data=form).status_code == 303
    with console.sessions() as session:
        post = session.scalars(select(Post)).one()
        assert post.parts["bluesky"] == ["1/ Ballot result: 87% yes", "2/ Turnout 71%"]
        assert sorted(d.platform for d in post.deliveries) == ["bluesky", "x"]


def test_a_part_too_long_for_x_is_shown_beside_that_part_and_nothing_is_stored(
    console, editor, form_token
):
    form = compose_form(
        form_token(editor, "/console/posts/new"), "Fine", "a" * 300, when=_soon(console)
    )
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 400
    beside = _beside(answer.text, "x_part-2")
    assert "by X's count" in beside and "shorten by 20" in beside
    assert _beside(answer.text, "x_part-1") == ""
    assert "Nothing was saved" in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert _post_count(console) == 0
    # What was typed is kept, so nothing is lost.
    assert "a" * 300 in answer.text


@pytest.mark.parametrize(
    ("date", "time", "complaint"),
    [
        ("2031-03-30", "01:30", "does not exist in Europe/London: the clocks go forward"),
        ("2031-10-26", "01:30", "happens twice in Europe/London: the clocks go back"),
        ("2020-01-01", "10:00", "is in the past"),
        ("", "18:00", "give a date and a time"),
    ],
)
def test_a_time_that_cannot_be_used_is_explained_beside_the_time(
    console, editor, form_token, date, time, complaint
):
    form = compose_form(form_token(editor, "/console/posts/new"), "Demo", when=_soon(console))
    form.update(date=date, time=time)
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 400
    assert complaint in _beside(answer.text, "when")
    assert _post_count(console) == 0


def test_empty_text_no_accounts_and_a_bad_link_are_all_reported_at_once(
    console, editor, form_token
):
    form = compose_form(
        form_token(editor, "/console/posts/new"), "", when=_soon(console), to=(), link="union.org"
    )
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 400
    assert "no targets" in _beside(answer.text, "to")
    assert "e.g. https://union.org" in _beside(answer.text, "link")
    assert _post_count(console) == 0


def test_an_account_that_is_not_connected_is_refused_in_the_clis_words(console, editor, form_token):
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "Demo",
        when=_soon(console),
        to=("x:@somebody-else",),
    )
    answer = editor.post("/console/posts/new", data=form)
    assert "no x account @somebody-else is connected" in _beside(answer.text, "to")
    assert _post_count(console) == 0


def test_facebook_hold_outside_its_window_is_explained_beside_the_option(
    console, editor, form_token
):
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "Demo",
        when=_soon(console, hours=24 * 40),
        hold=True,
    )
    answer = editor.post("/console/posts/new", data=form)
    assert "10 minutes to 30 days" in _beside(answer.text, "hold")
    assert _post_count(console) == 0


def test_check_redraws_counters_and_previews_and_stores_nothing(console, editor, form_token):
    link = "https://www.union.example.org/fujitsu/demo-eve?utm_source=x&utm_medium=social"
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "Demo 👋",
        when=_soon(console),
        link=link,
        action="check",
    )
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 200
    # 5 + 2 (emoji) + 1 (newline) + 23 (the link) = 31 by X's count
    assert re.search(r'id="count-x-1">249 left<', answer.text)
    assert "union.example.org/fujitsu/demo…" in answer.text
    assert "UNION.EXAMPLE.ORG" in answer.text  # Facebook's link card
    preview = answer.text.split('id="preview"', 1)[1]
    assert "utm_source" not in preview
    assert _post_count(console) == 0


def test_add_part_and_remove_part_change_the_form_without_javascript(console, editor, form_token):
    token = form_token(editor, "/console/posts/new")
    added = editor.post(
        "/console/posts/new",
        data=compose_form(token, "First", when=_soon(console), action="add_part"),
    )
    assert added.status_code == 200
    assert 'id="x_part-2"' in added.text and "Part 1 of 2" in added.text
    removed = editor.post(
        "/console/posts/new",
        data=compose_form(token, "First", "Second", when=_soon(console), action="remove_part:1"),
    )
    assert 'id="x_part-2"' not in removed.text and ">Second</textarea>" in removed.text
    assert _post_count(console) == 0


def test_the_live_counter_endpoint_counts_by_the_servers_rule(console, editor, form_token):
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "日本語",
        "x" * 281,
        when=_soon(console),
        action="check",
    )
    answer = editor.post("/console/posts/check", data=form)
    assert answer.status_code == 200
    counts = answer.json()
    assert counts["x"] == [
        {"text": "274 left", "over": False},
        {"text": "281 of 280: 1 over", "over": True},
    ]
    assert counts["facebook"]["text"] == f"{63206 - len('日本語' + chr(10) * 2 + 'x' * 281):,} left"
    assert "As X shows it" in counts["preview"]


def test_a_form_without_its_csrf_token_is_refused(console, editor):
    form = compose_form("forged", "Demo", when=_soon(console))
    answer = editor.post("/console/posts/new", data=form)
    assert answer.status_code == 403
    assert _post_count(console) == 0


def test_an_editor_edits_a_pending_post_and_the_edit_is_recorded(console, editor, form_token):
    post_id = queued(console, link="https://union.example.org/demo")
    page = editor.get(f"/console/posts/{post_id}/edit")
    assert page.status_code == 200
    # The link added to the X text when it was stored is not shown as part of the text.
    assert ">Demo tomorrow at 8:30</textarea>" in page.text
    later = _soon(console, hours=30)
    form = compose_form(
        form_token(editor, f"/console/posts/{post_id}/edit"),
        "Demo moved to 9am",
        when=later,
        to=("x:@union",),
        link="https://union.example.org/demo",
    )
    answer = editor.post(f"/console/posts/{post_id}/edit", data=form)
    assert answer.status_code == 303 and answer.headers["location"] == f"/console/posts/{post_id}"
    with console.sessions() as session:
        post = session.get(Post, post_id)
        assert post.parts["x"] == ["Demo moved to 9am\nhttps://union.example.org/demo"]
        assert [d.platform for d in post.deliveries] == ["x"]
        assert post.deliveries[0].due_at == later.replace(second=0, microsecond=0)
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "post.edit"))
        assert entry.before["parts"]["x"] == [
            "Demo tomorrow at 8:30\nhttps://union.example.org/demo"
        ]
    shown = editor.get(f"/console/posts/{post_id}")
    assert "post.edit" in shown.text and "Saved demo/demo-eve" in shown.text


def test_saving_an_unchanged_post_changes_nothing(console, editor, form_token):
    post_id = queued(console)
    page = editor.get(f"/console/posts/{post_id}/edit")
    with console.sessions() as session:
        post = session.get(Post, post_id)
        local = post.scheduled_at.astimezone(ZoneInfo(ZONE))
    form = compose_form(
        form_token(editor, f"/console/posts/{post_id}/edit"), "Demo tomorrow at 8:30", when=local
    )
    answer = editor.post(f"/console/posts/{post_id}/edit", data=form, follow_redirects=True)
    assert "Nothing was changed" in answer.text and page.status_code == 200
    with console.sessions() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "post.edit")
            )
            == 0
        )


def test_a_post_that_has_started_cannot_be_edited_and_its_page_links_what_went_out(
    console, editor, form_token
):
    post_id = queued(console)
    token = form_token(editor, "/console/posts/new")
    with console.sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.platform == "x")
            .values(
                state=DeliveryState.SENT,
                platform_ids=["1790"],
                url="http://127.0.0.1:9/union/status/1790",
            )
        )
        session.commit()
    opened = editor.get(f"/console/posts/{post_id}/edit")
    assert opened.status_code == 303 and opened.headers["location"] == f"/console/posts/{post_id}"
    form = compose_form(token, "Changed too late", when=_soon(console))
    answer = editor.post(f"/console/posts/{post_id}/edit", data=form)
    assert answer.status_code == 303
    with console.sessions() as session:
        assert session.get(Post, post_id).parts["x"] == ["Demo tomorrow at 8:30"]
    page = editor.get(f"/console/posts/{post_id}")
    assert "can no longer be edited" in page.text
    assert 'href="http://127.0.0.1:9/union/status/1790"' in page.text
    assert f'href="/console/posts/{post_id}/edit"' not in page.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/posts/new"),
        ("POST", "/console/posts/new"),
        ("POST", "/console/posts/check"),
        ("GET", "/console/posts/{id}/edit"),
        ("POST", "/console/posts/{id}/edit"),
        ("GET", "/console/posts/{id}/cancel"),
        ("POST", "/console/posts/{id}/cancel"),
    ],
)
def test_a_viewer_cannot_compose_edit_or_cancel_and_a_stranger_is_sent_to_sign_in(
    console, method, path
):
    campaign_accounts(console)
    post_id = queued(console)
    url = path.format(id=post_id)
    viewer = console.client(Role.VIEWER)
    assert viewer.request(method, url, data={"csrf": "x"}).status_code == 403
    stranger = console.client(None).request(method, url, data={"csrf": "x"})
    assert stranger.status_code == 303 and "/console/sign-in" in stranger.headers["location"]
    with console.sessions() as session:
        assert session.get(Post, post_id).state == "scheduled"


def test_the_list_of_problems_names_the_field_each_one_is_about(console, editor, form_token):
    form = compose_form(
        form_token(editor, "/console/posts/new"),
        "x" * 300,
        "fine",
        when=_soon(console),
        link="union.org",
    )
    answer = editor.post("/console/posts/new", data=form)
    summary = answer.text.split('class="error-summary"', 1)[1].split("</ul>", 1)[0]
    items = [html.unescape(re.sub(r"<[^>]+>", "", li)).strip() for li in summary.split("<li>")[1:]]
    assert any(item.startswith("Link: must be a web address") for item in items), items
    assert any(item.startswith("X part 1: is 300 characters") for item in items), items
