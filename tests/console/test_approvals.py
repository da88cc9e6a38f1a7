"""The approvals queue (diff, approve, reject, never the author) and embargoed statements
covered everywhere the console shows a post to someone who may not read it yet."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.campaigns.editing import draft_of, edit_post
from bot.console.roles import Role
from bot.storage.models import AuditEntry, Post, PostState
from tests.support.console_posts import ZONE, campaign_accounts, compose_form, queued

SECRET = "Ballot result: 92% voted to strike"
EDITOR = "editor@example.org"


def _state(console, post_id: int) -> str:
    with console.sessions() as s:
        return s.get(Post, post_id).state


def _statement(console, **kwargs) -> int:
    campaign_accounts(console)
    return queued(console, SECRET, actor=EDITOR, requires_approval=True, embargoed=True, **kwargs)


def _local_time(console, post_id: int) -> str:
    with console.sessions() as s:
        return f"{s.get(Post, post_id).scheduled_at.astimezone(ZoneInfo(ZONE)):%H:%M}"


def _decide(console, client, post_id: int, verb: str, **data: str):
    page = client.get("/console/approvals")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    version = ""
    if 'name="version" value="' in page.text:
        version = page.text.split('name="version" value="', 1)[1].split('"', 1)[0]
    return client.post(
        f"/console/approvals/{post_id}/{verb}", data={"csrf": token, "version": version, **data}
    )


def test_an_approver_approves_a_waiting_post_and_it_becomes_due(console):
    console.client(Role.EDITOR)  # the author exists as a person
    post_id = _statement(console)
    approver = console.client(Role.APPROVER)
    page = approver.get("/console/approvals")
    assert page.status_code == 200
    assert "demo/demo-eve" in page.text and SECRET in page.text
    answer = _decide(console, approver, post_id, "approve")
    assert answer.status_code == 303, answer.text
    assert _state(console, post_id) == PostState.SCHEDULED
    with console.sessions() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert "post.submit" in actions and "post.approve" in actions
    assert "Nothing waits for approval" in approver.get("/console/approvals").text


def test_the_author_cannot_approve_their_own_post_even_as_an_approver(console):
    campaign_accounts(console)
    approver = console.client(Role.APPROVER)
    post_id = queued(console, SECRET, actor="approver@example.org", requires_approval=True)
    page = approver.get("/console/approvals").text
    assert "You wrote this post" in page
    assert f"/console/approvals/{post_id}/approve" not in page
    token = approver.get("/console/").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    answer = approver.post(f"/console/approvals/{post_id}/approve", data={"csrf": token})
    assert answer.status_code == 409
    assert "its author cannot approve it" in answer.text
    assert _state(console, post_id) == PostState.AWAITING_APPROVAL


def test_a_rejection_needs_a_reason_and_the_next_version_shows_what_changed(console):
    post_id = _statement(console)
    approver = console.client(Role.APPROVER)
    assert _decide(console, approver, post_id, "reject", reason=" ").status_code == 409
    answer = _decide(console, approver, post_id, "reject", reason="Wrong figure")
    assert answer.status_code == 303
    assert _state(console, post_id) == PostState.REJECTED
    with console.sessions() as s:
        post = s.get(Post, post_id)
        draft = draft_of(post)
        parts = {p: tuple(t.replace("92%", "93%") for t in ts) for p, ts in draft.parts.items()}
        edit_post(s, post, replace(draft, parts=parts), actor=EDITOR, now=console.clock.now)
    assert _state(console, post_id) == PostState.AWAITING_APPROVAL
    page = approver.get("/console/approvals").text
    assert "Changes since the version you rejected" in page
    assert '<del><span class="visually-hidden">[removed: </span>92%' in page
    assert '<ins><span class="visually-hidden">[added: </span>93%' in page


def test_an_editor_cannot_open_the_approvals_queue(console):
    assert console.client(Role.EDITOR).get("/console/approvals").status_code == 403


def test_a_viewer_sees_only_embargoed_statement_and_its_time_everywhere(console):
    post_id = _statement(console)
    shown = f"Embargoed statement, {_local_time(console, post_id)}"
    viewer = console.client(Role.VIEWER)
    for path in ("/console/", "/console/posts", f"/console/posts/{post_id}"):
        page = viewer.get(path)
        assert page.status_code == 200, path
        assert SECRET not in page.text and "92%" not in page.text, path
        assert shown in page.text, path
    for role in (Role.APPROVER, Role.ADMIN):
        assert SECRET in console.client(role).get(f"/console/posts/{post_id}").text


def test_its_author_reads_it_and_another_editor_can_neither_read_nor_edit_it(console):
    post_id = _statement(console)
    author = console.client(Role.EDITOR)
    assert SECRET in author.get(f"/console/posts/{post_id}").text
    other = console.sign_in(console.add_user("other@example.org", Role.EDITOR))
    assert SECRET not in other.get(f"/console/posts/{post_id}").text
    edit = other.get(f"/console/posts/{post_id}/edit")
    assert edit.status_code == 403 and SECRET not in edit.text


def test_the_composer_saves_a_statement_that_needs_approval_and_is_embargoed(console, form_token):
    campaign_accounts(console)
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/posts/new")
    when = (console.clock.now + timedelta(hours=3)).astimezone(ZoneInfo(ZONE))
    answer = editor.post(
        "/console/posts/new",
        data=compose_form(token, SECRET, when=when, requires_approval=True, embargoed=True),
    )
    assert answer.status_code == 303, answer.text
    with console.sessions() as s:
        post = s.scalars(select(Post)).one()
        assert post.state == PostState.AWAITING_APPROVAL
        assert post.requires_approval and post.embargoed
        assert post.created_by == EDITOR
    assert "awaits approval" in editor.get(answer.headers["location"]).text


def test_an_editor_cannot_take_the_approval_requirement_off(console, form_token):
    post_id = _statement(console)
    editor = console.client(Role.EDITOR)
    path = f"/console/posts/{post_id}/edit"
    token = form_token(editor, path)
    when = (console.clock.now + timedelta(hours=3)).astimezone(ZoneInfo(ZONE))
    answer = editor.post(path, data=compose_form(token, SECRET, when=when, embargoed=True))
    assert answer.status_code == 400
    assert "only an approver can take the approval requirement off" in answer.text
    assert _state(console, post_id) == PostState.AWAITING_APPROVAL


def test_the_schedule_download_leaves_an_embargoed_statement_out_below_approver(console):
    _statement(console)
    viewer = console.client(Role.VIEWER).get("/console/schedules/export?campaign=demo")
    assert viewer.status_code == 200
    assert SECRET not in viewer.text and "demo-eve: an embargoed statement" in viewer.text
    approver = console.client(Role.APPROVER).get("/console/schedules/export?campaign=demo")
    assert SECRET in approver.text and "embargo: true" in approver.text


def test_a_time_changed_after_approval_is_not_called_unchanged(console):
    post_id = _statement(console)
    approver = console.client(Role.APPROVER)
    assert _decide(console, approver, post_id, "approve").status_code == 303
    with console.sessions() as s:
        post = s.get(Post, post_id)
        draft = draft_of(post)
        later = replace(draft, scheduled_at=draft.scheduled_at + timedelta(hours=2))
        edit_post(s, post, later, actor=EDITOR, now=console.clock.now)
    assert _state(console, post_id) == PostState.AWAITING_APPROVAL
    page = approver.get("/console/approvals").text
    assert "Unchanged since you approved" not in page
    assert "its time, link or accounts changed" in page


def test_a_change_that_leaves_what_goes_out_alone_is_called_unchanged(console):
    post_id = _statement(console)
    approver = console.client(Role.APPROVER)
    assert _decide(console, approver, post_id, "approve").status_code == 303
    with console.sessions() as s:
        post = s.get(Post, post_id)
        edit_post(
            s, post, replace(draft_of(post), embargoed=False), actor=EDITOR, now=console.clock.now
        )
    assert _state(console, post_id) == PostState.AWAITING_APPROVAL
    assert "Unchanged since you approved" in approver.get("/console/approvals").text
