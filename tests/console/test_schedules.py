"""Schedule files in the console: dry run, apply on confirmation, download."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import yaml
from sqlalchemy import func, select

from bot.console.roles import Role
from bot.storage.models import AuditEntry, Post
from tests.support.factories import add_account

LATER = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")

GOOD = f"""\
campaign: fujitsu
timezone: Europe/London
posts:
  - id: demo-eve
    at: {LATER} 18:00
    to: [x, facebook]
    text: "Demo tomorrow 8:30 at Fujitsu HQ #DefendTheUnion"
  - id: ballot
    at: {LATER} 10:00
    to: [x]
    thread:
      - "1/ Ballot result:"
      - "2/ 87% voted yes"
"""

# Line 10: a platform that does not exist; line 13: a time that is not a time.
BAD = f"""\
campaign: fujitsu
timezone: Europe/London
posts:
  - id: ok
    at: {LATER} 18:00
    to: [x]
    text: Fine
  - id: wrong-platform
    at: {LATER} 19:00
    to: [twiter]
    text: Hello
  - id: wrong-time
    at: tomorrow evening
    to: [x]
    text: Hello
"""


@pytest.fixture
def accounts(console):
    runtime = console.runtime
    add_account(runtime.sessions, runtime.vault, "x", "union")
    add_account(runtime.sessions, runtime.vault, "facebook", "union-page")
    return console


def _posts(console) -> int:
    with console.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Post)) or 0)


def _audit(console, action: str) -> list[AuditEntry]:
    with console.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _hidden(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html)
    }


def _check(client, form_token, text: str, **files):
    token = form_token(client, "/console/schedules")
    if files:
        return client.post("/console/schedules/check", data={"csrf": token}, files=files)
    return client.post("/console/schedules/check", data={"csrf": token, "text": text})


def test_the_dry_run_names_every_problem_with_its_line_and_stores_nothing(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    page = _check(client, form_token, BAD)
    assert page.status_code == 400
    text = unescape(page.text)
    assert "2 problems: nothing can be stored" in text
    assert '<a href="#line-13">Line 13</a>, field <code>posts[wrong-time].at</code>' in text
    assert "tomorrow evening" in text and "write YYYY-MM-DD HH:MM" in text
    assert '<a href="#line-10">Line 10</a>, field <code>posts[wrong-platform].to</code>' in text
    assert "unknown platform 'twiter'; did you mean 'x'?" in text
    assert 'id="line-13" class="bad"' in page.text
    assert "schedules/apply" not in page.text  # no Apply button
    assert _posts(accounts) == 0


def test_the_dry_run_names_an_account_that_is_not_connected(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    page = _check(client, form_token, GOOD.replace("to: [x]", "to: [x:@nobody]"))
    assert page.status_code == 400
    assert '<a href="#line-10">Line 10</a>, field <code>to</code>' in page.text
    assert "no x account @nobody is connected" in page.text
    assert _posts(accounts) == 0


def test_a_clean_dry_run_lists_what_would_be_created_and_stores_nothing(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    page = _check(client, form_token, GOOD)
    assert page.status_code == 200
    assert "Created: 2" in page.text
    assert "<code>fujitsu/demo-eve</code>" in page.text
    assert "Apply: store these changes" in page.text
    assert _posts(accounts) == 0
    assert _audit(accounts, "schedule.apply") == []


def test_applying_stores_the_posts_and_writes_an_audit_row(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    hidden = _hidden(_check(client, form_token, GOOD).text)
    assert hidden["text_sha256"] == hashlib.sha256(GOOD.encode()).hexdigest()
    done = client.post("/console/schedules/apply", data=hidden)
    assert done.status_code == 303
    assert (
        "Applied pasted text: 2 created, 0 updated, 0 unchanged."
        in client.get("/console/schedules").text
    )
    assert _posts(accounts) == 2
    with accounts.sessions() as session:
        assert set(session.scalars(select(Post.created_by))) == {"editor@example.org"}
    [entry] = _audit(accounts, "schedule.apply")
    assert entry.actor == "editor@example.org"
    assert entry.after["created"] == ["fujitsu/demo-eve", "fujitsu/ballot"]
    again = _check(client, form_token, GOOD)
    assert "Unchanged: 2" in again.text and "Nothing would change" in again.text


def test_an_uploaded_file_is_checked_under_its_own_name(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    page = _check(client, form_token, "", upload=("../../etc/demo.yaml", BAD.encode()))
    assert page.status_code == 400
    assert "Dry run of demo.yaml" in page.text
    assert '<a href="#line-13">Line 13</a>' in page.text


def test_text_that_is_not_the_one_previewed_is_not_applied(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    hidden = _hidden(_check(client, form_token, GOOD).text)
    hidden["text"] = hidden["text"].replace("8:30", "9:30")
    refused = client.post("/console/schedules/apply", data=hidden)
    assert refused.status_code == 400
    assert "This is not the text you checked" in refused.text
    assert _posts(accounts) == 0


def test_applying_stores_nothing_when_things_changed_since_the_dry_run(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    hidden = _hidden(_check(client, form_token, GOOD).text)
    first = GOOD.split("  - id: ballot")[0]
    client.post("/console/schedules/apply", data=_hidden(_check(client, form_token, first).text))
    assert _posts(accounts) == 1
    again = client.post("/console/schedules/apply", data=hidden)
    assert again.status_code == 409
    assert "Something changed since your dry run" in again.text
    assert "Created: 1" in again.text and "Unchanged: 1" in again.text
    assert _posts(accounts) == 1


def test_line_ends_sent_by_a_browser_do_not_spoil_the_confirmation(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    hidden = _hidden(_check(client, form_token, GOOD).text)
    hidden["text"] = hidden["text"].replace("\n", "\r\n")
    assert client.post("/console/schedules/apply", data=hidden).status_code == 303
    assert _posts(accounts) == 2


def test_a_file_over_the_size_limit_is_refused_with_the_limit_named(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    big = GOOD + "#" + "x" * (200 * 1024)
    page = _check(client, form_token, "", upload=("big.yaml", big.encode()))
    assert page.status_code == 400
    assert "is larger than 200 KB" in page.text and "split it into several files" in page.text
    assert _posts(accounts) == 0


def test_an_empty_form_asks_for_a_file(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    page = _check(client, form_token, "  ")
    assert page.status_code == 400
    assert "Paste a schedule file into the box" in page.text


def test_the_download_applies_back_unchanged(accounts, form_token):
    client = accounts.client(Role.EDITOR)
    client.post("/console/schedules/apply", data=_hidden(_check(client, form_token, GOOD).text))
    viewer = accounts.client(Role.VIEWER)
    download = viewer.get("/console/schedules/export?campaign=fujitsu")
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="fujitsu.yaml"'
    assert download.headers["content-type"].startswith("application/yaml")
    exported = download.text
    assert {p["id"] for p in yaml.safe_load(exported)["posts"]} == {"demo-eve", "ballot"}
    page = _check(client, form_token, "", upload=("fujitsu.yaml", exported.encode()))
    assert page.status_code == 200
    assert "Unchanged: 2" in page.text and "Nothing would change" in page.text


def test_downloading_an_unknown_campaign_says_which_exist(accounts):
    page = accounts.client(Role.VIEWER).get("/console/schedules/export?campaign=nope")
    assert page.status_code == 404
    assert "No campaign" in page.text


@pytest.mark.parametrize(
    ("role", "path", "method", "status"),
    [
        (None, "/console/schedules", "GET", 303),
        (Role.VIEWER, "/console/schedules", "GET", 403),
        (Role.VIEWER, "/console/schedules/check", "POST", 403),
        (Role.VIEWER, "/console/schedules/apply", "POST", 403),
        (None, "/console/schedules/export?campaign=fujitsu", "GET", 303),
        (Role.EDITOR, "/console/schedules", "GET", 200),
    ],
)
def test_schedule_pages_check_the_role(accounts, role, path, method, status):
    client = accounts.client(role)
    answer = client.request(method, path, data={} if method == "POST" else None)
    assert answer.status_code == status
    assert _posts(accounts) == 0


def test_each_post_a_schedule_creates_or_changes_has_its_before_and_after_on_its_page(
    accounts, form_token
):
    client = accounts.client(Role.EDITOR)
    client.post("/console/schedules/apply", data=_hidden(_check(client, form_token, GOOD).text))
    moved = GOOD.replace(f"at: {LATER} 18:00", f"at: {LATER} 18:30")
    client.post("/console/schedules/apply", data=_hidden(_check(client, form_token, moved).text))
    with accounts.sessions() as session:
        post_id = session.scalar(select(Post.id).where(Post.key == "demo-eve"))
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.subject == f"post:{post_id}")
                .order_by(AuditEntry.id)
            )
        )
    assert [(r.action, r.actor) for r in rows] == [
        ("post.create", "editor@example.org"),
        ("post.edit", "editor@example.org"),
    ]
    assert rows[1].before["scheduled_at"] != rows[1].after["scheduled_at"]
    page = client.get(f"/console/posts/{post_id}").text
    assert "post.edit" in page and "scheduled at:" in page
