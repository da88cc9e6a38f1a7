"""`apply` from the command line leaves its mark (the audit log and the posts' author) and
reads each file once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.campaigns.schedules import yaml_nodes
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


def test_apply_and_pledges_apply_parse_each_file_once(with_accounts, tmp_path, monkeypatch):
    # A 50 MB file took 34 s when every file was parsed twice (once to check, once to
    # store): the YAML is composed once per file, whatever the command.
    path = tmp_path / "demo.yaml"
    path.write_text(
        SCHEDULE + "pledge_campaigns:\n  - id: p\n    title: T\n    text: Hi\n"
        f"    goal: 2\n    release: {LATER} 10:00\n"
    )
    sources: list[str] = []
    compose = yaml_nodes.Reader.compose

    def counted(reader: yaml_nodes.Reader, text: str):
        sources.append(reader.source)
        return compose(reader, text)

    monkeypatch.setattr(yaml_nodes.Reader, "compose", counted)
    for command in (("apply", "--dry-run"), ("apply",), ("pledges", "apply")):
        sources.clear()
        result = with_accounts(*command, str(path))
        assert result.exit_code == 0, result.output
        assert len(sources) == 1, (command, sources)


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
