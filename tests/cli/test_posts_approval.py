"""`posts approve` / `posts reject`, and embargoed texts covered in the CLI's lists, JSON
and exports unless --show-embargoed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.storage.models import AuditEntry, Post
from tests.support.factories import add_account

SECRET = "Ballot result: 92% voted to strike"
LATER = datetime.now(UTC) + timedelta(days=2)


@pytest.fixture
def as_user(monkeypatch):
    """Run the next commands as another OS user (``cli:<user>`` is the actor)."""

    def switch(name: str) -> None:
        monkeypatch.setenv("LOGNAME", name)

    switch("alice")
    return switch


@pytest.fixture
def statement(cli, as_user):
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union")
    post = cli.json(
        "posts", "add", "--at", f"{LATER:%Y-%m-%d} 12:00", "--tz", "Europe/London",
        "--to", "x", "--id", "result", "--campaign", "ballot",
        "--requires-approval", "--embargoed", SECRET,
    )  # fmt: skip
    assert post["status"] == "awaiting approval"
    assert post["requires_approval"] and post["embargoed"]
    return cli


def _audit(cli) -> list[tuple[str, str]]:
    with cli.runtime().sessions() as s:
        return [(e.action, e.actor) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_the_author_cannot_approve_from_the_same_os_user_but_another_user_can(statement, as_user):
    refused = statement("posts", "approve", "ballot/result")
    assert refused.exit_code == 1
    assert "its author cannot approve it" in refused.output
    as_user("bob")
    approved = statement("posts", "approve", "ballot/result")
    assert approved.exit_code == 0, approved.output
    assert "approved ballot/result" in approved.output
    [post] = statement.json("posts", "list")
    assert post["status"] == "scheduled"
    assert ("post.approve", "cli:bob") in _audit(statement)
    assert ("post.submit", "cli:alice") in _audit(statement)


def test_reject_needs_a_reason_and_records_it(statement, as_user):
    as_user("bob")
    missing = statement("posts", "reject", "ballot/result")
    assert missing.exit_code == 2 and "--why" in missing.output
    done = statement("posts", "reject", "ballot/result", "--why", "Wrong percentage")
    assert done.exit_code == 0, done.output
    [post] = statement.json("posts", "list")
    assert post["status"] == "rejected"
    with statement.runtime().sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "post.reject")).one()
        assert entry.after["reason"] == "Wrong percentage"


def test_an_edit_after_approval_puts_it_back_in_the_queue(statement, as_user):
    as_user("bob")
    assert statement("posts", "approve", "ballot/result").exit_code == 0
    as_user("alice")
    edited = statement("posts", "edit", "ballot/result", "--text", SECRET + "!")
    assert edited.exit_code == 0, edited.output
    assert "awaits approval again" in edited.output
    assert [a for a, _ in _audit(statement)][-2:] == ["post.approval_withdrawn", "post.edit"]


def test_its_author_reads_an_embargoed_text_others_see_it_covered(statement, as_user):
    assert SECRET in statement("posts", "show", "ballot/result").output
    as_user("carol")
    assert SECRET not in statement("posts", "show", "ballot/result").output


def test_embargoed_text_is_covered_in_list_show_and_json_unless_asked_for(statement, as_user):
    as_user("carol")
    listing = statement("posts", "list")
    shown = statement("posts", "show", "ballot/result")
    as_json = statement("posts", "list", "--json").output
    one_json = statement("posts", "show", "ballot/result", "--json").output
    deliveries = statement("deliveries", "list", "--json").output
    for output in (listing.output, shown.output, as_json, one_json, deliveries):
        assert SECRET not in output
        assert "92%" not in output
    assert "Embargoed statement, 12:00" in listing.output
    assert "Embargoed statement, 12:00" in shown.output
    assert "--show-embargoed" in shown.output
    [post] = json.loads(as_json)
    assert post["parts"] == {
        "x": ["Embargoed statement, 12:00"],
        "facebook": ["Embargoed statement, 12:00"],
    }
    assert post["text_hidden"] is True

    revealed = statement.json("posts", "show", "ballot/result", "--show-embargoed")
    assert revealed["parts"]["x"] == [SECRET]
    assert SECRET in statement("posts", "list", "--show-embargoed").output


def test_export_leaves_out_an_embargoed_statement_unless_asked_for(statement, as_user):
    as_user("carol")
    covered = statement("schedules", "export", "ballot")
    assert covered.exit_code == 0, covered.output
    assert SECRET not in covered.output
    assert "result: an embargoed statement" in covered.output
    full = statement("schedules", "export", "ballot", "--show-embargoed")
    assert SECRET in full.output
    assert "approval: required" in full.output and "embargo: true" in full.output


def test_after_its_time_an_approved_embargoed_post_is_ordinary(statement, as_user):
    as_user("bob")
    assert statement("posts", "approve", "ballot/result").exit_code == 0
    with statement.runtime().sessions() as s:
        post = s.scalars(select(Post)).one()
        post.scheduled_at = datetime.now(UTC) - timedelta(minutes=1)
        s.commit()
    as_user("carol")
    assert SECRET in statement("posts", "show", "ballot/result").output


def test_the_report_chart_of_an_embargoed_statement_is_titled_by_its_cover(
    statement, as_user, tmp_path
):
    as_user("bob")
    drawing = tmp_path / "result.svg"
    answer = statement("report", "ballot", "--post", "result", "--chart", str(drawing))
    assert answer.exit_code == 0, answer.output
    assert "92%" not in drawing.read_text() and "Embargoed statement" in drawing.read_text()
