"""`apply` from the command line leaves its mark: the audit log and the posts' author."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.people.audit import cli_actor
from bot.storage.models import AuditEntry, Post

LATER = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")
SCHEDULE = f"""\
campaign: demo
timezone: Europe/London
posts:
  - id: ok
    at: {LATER} 10:00
    to: [x]
    text: Fine
"""


def test_apply_writes_one_audit_row_and_names_the_author_of_new_posts(with_accounts, tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(SCHEDULE)
    assert with_accounts("apply", "--dry-run", str(path)).exit_code == 0
    assert with_accounts("apply", str(path)).exit_code == 0
    assert with_accounts("apply", str(path)).exit_code == 0  # unchanged: nothing to audit
    runtime = with_accounts.runtime()
    with runtime.sessions() as session:
        [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "schedule.apply"))
        [author] = session.scalars(select(Post.created_by))
    assert entry.actor == cli_actor() == author
    assert entry.subject == f"schedule:{path}"
    assert entry.after["created"] == ["demo/ok"]


def test_apply_records_each_post_it_changes_with_before_and_after(with_accounts, tmp_path):
    path = tmp_path / "demo.yaml"
    path.write_text(SCHEDULE)
    assert with_accounts("apply", str(path)).exit_code == 0
    path.write_text(SCHEDULE.replace("text: Fine", "text: Finer"))
    assert with_accounts("apply", str(path)).exit_code == 0
    with with_accounts.runtime().sessions() as session:
        rows = list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(["post.create", "post.edit"]))
                .order_by(AuditEntry.id)
            )
        )
    assert [(r.action, r.actor) for r in rows] == [
        ("post.create", cli_actor()),
        ("post.edit", cli_actor()),
    ]
    assert rows[1].before["parts"]["x"] == ["Fine"] and rows[1].after["parts"]["x"] == ["Finer"]


def test_a_schedule_file_whose_name_is_not_utf8_is_refused_by_name_and_nothing_is_stored(
    with_accounts, tmp_path
):
    folder = tmp_path / "schedules"  # SCHEDULES_DIR
    folder.mkdir(exist_ok=True)
    (folder / "demo-\udcff.yaml").write_text(SCHEDULE)  # a Latin-1 "ÿ" in the name
    for command in (("apply", "--dry-run"), ("apply",)):
        result = with_accounts(*command)
        assert result.exit_code == 1, result.output
        assert "demo-\\xff.yaml" in result.output
        assert "has a name that is not UTF-8 text (the byte 0xFF" in result.output
        assert "rename the file" in result.output and "unexpected error" not in result.output
    with with_accounts.runtime().sessions() as session:
        assert session.scalars(select(Post)).all() == []
