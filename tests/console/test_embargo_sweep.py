"""An embargoed statement's words reach no page a viewer can open before its release."""

from __future__ import annotations

import hashlib
from zoneinfo import ZoneInfo

from bot.console.roles import Role
from bot.storage.models import Post, PostState
from tests.support.console_posts import ZONE, campaign_accounts, queued

SECRET = "Ballot result: 92% voted to strike"


def test_a_viewer_reads_the_embargoed_words_on_no_page_before_release(console):
    campaign_accounts(console)
    post_id = queued(
        console, SECRET, actor="editor@example.org", requires_approval=True, embargoed=True
    )
    viewer = console.client(Role.VIEWER)
    for path in (
        "/console/",
        "/console/posts",
        f"/console/posts/{post_id}",
        "/console/reports",
        "/console/reports/demo",
        "/console/reports/demo/report.csv",
        "/console/reports/demo/posts/demo-eve",
        "/console/reports/demo/posts/demo-eve/report.csv",
        "/console/alerts",
        "/console/schedules/export?campaign=demo",
    ):
        page = viewer.get(path)
        assert "92%" not in page.text, (path, page.status_code)


def test_another_editors_schedule_file_neither_overwrites_nor_unapproves_a_statement(
    console, form_token
):
    campaign_accounts(console)
    post_id = queued(
        console, SECRET, actor="editor@example.org", requires_approval=True, embargoed=True
    )
    with console.sessions() as s:
        at = s.get(Post, post_id).scheduled_at.astimezone(ZoneInfo(ZONE))
    text = (
        f"campaign: demo\ntimezone: {ZONE}\nposts:\n"
        f"  - id: demo-eve\n    at: {at:%Y-%m-%d %H:%M}\n    to: [x]\n    text: Overwritten\n"
    )
    other = console.sign_in(console.add_user("other@example.org", Role.EDITOR))
    token = form_token(other, "/console/schedules")
    dry = other.post("/console/schedules/check", data={"csrf": token, "text": text})
    assert "92%" not in dry.text
    assert "embargoed statement by someone else" in dry.text
    assert "schedules/apply" not in dry.text
    # Sent anyway (a form kept from before, or crafted): refused, nothing changed.
    hidden = {
        "csrf": token,
        "name": "pasted text",
        "text": text,
        "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "plan_sha256": "",
    }
    refused = other.post("/console/schedules/apply", data=hidden)
    assert refused.status_code != 303
    with console.sessions() as s:
        post = s.get(Post, post_id)
        assert post.state == PostState.AWAITING_APPROVAL and post.requires_approval
        assert post.parts["x"] == [SECRET]


def test_the_author_cannot_take_approval_off_their_statement_with_a_schedule_file(
    console, form_token
):
    campaign_accounts(console)
    author = console.client(Role.EDITOR)
    post_id = queued(console, SECRET, actor="editor@example.org", requires_approval=True)
    with console.sessions() as s:
        at = s.get(Post, post_id).scheduled_at.astimezone(ZoneInfo(ZONE))
    text = (
        f"campaign: demo\ntimezone: {ZONE}\nposts:\n"
        f"  - id: demo-eve\n    at: {at:%Y-%m-%d %H:%M}\n    to: [x]\n    text: '{SECRET}'\n"
    )
    token = form_token(author, "/console/schedules")
    dry = author.post("/console/schedules/check", data={"csrf": token, "text": text})
    assert "only an approver can take the approval requirement off" in dry.text
    with console.sessions() as s:
        assert s.get(Post, post_id).state == PostState.AWAITING_APPROVAL


def test_another_editor_reads_the_embargoed_words_on_no_page_before_release(console):
    campaign_accounts(console)
    post_id = queued(
        console, SECRET, actor="editor@example.org", requires_approval=True, embargoed=True
    )
    other = console.sign_in(console.add_user("other@example.org", Role.EDITOR))
    for path in (
        "/console/",
        "/console/posts",
        f"/console/posts/{post_id}",
        f"/console/posts/{post_id}/edit",
        f"/console/posts/{post_id}/cancel",
        "/console/reports/demo/posts/demo-eve",
        "/console/alerts",
        "/console/schedules",
        "/console/schedules/export?campaign=demo",
    ):
        page = other.get(path)
        assert "92%" not in page.text, (path, page.status_code)


def test_an_approver_reads_the_statement_on_its_report_page(console):
    campaign_accounts(console)
    queued(console, SECRET, actor="editor@example.org", requires_approval=True, embargoed=True)
    page = console.client(Role.APPROVER).get("/console/reports/demo/posts/demo-eve")
    assert page.status_code == 200 and "92%" in page.text
    viewer = console.client(Role.VIEWER).get("/console/reports/demo/posts/demo-eve")
    assert viewer.status_code == 200 and "Embargoed statement" in viewer.text
