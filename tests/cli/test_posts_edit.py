"""`posts edit`: change a pending post from the command line, with `posts add`'s checks."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.cli import main
from bot.people.audit import cli_actor
from bot.storage.models import AuditEntry, Delivery, DeliveryState, Post
from tests.support.factories import add_account


@pytest.fixture
def queued(cli):
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union")
    add_account(runtime.sessions, runtime.vault, "facebook", "union-page")
    post = cli.json(
        "posts", "add", "--in", "2h", "--id", "rally", "--campaign", "fujitsu", "Rally at noon"
    )
    assert post["status"] == "scheduled"
    return cli


def test_posts_edit_explains_its_options():
    result = CliRunner().invoke(main, ["posts", "edit", "--help"])
    assert result.exit_code == 0
    for option in ("--text", "--at", "--to", "--link", "--no-hold-on-facebook", "--json"):
        assert option in result.output


def test_posts_edit_changes_only_what_is_named(queued):
    post = queued.json("posts", "edit", "fujitsu/rally", "--text", "Rally moved to 1pm")
    assert post["parts"] == {"x": ["Rally moved to 1pm"], "facebook": ["Rally moved to 1pm"]}
    assert sorted(d["platform"] for d in post["deliveries"]) == ["facebook", "x"]
    moved = queued.json("posts", "edit", "fujitsu/rally", "--at", "2031-03-01 13:00", "--to", "x")
    assert moved["scheduled_at"].startswith("2031-03-01T13:00")
    assert [d["platform"] for d in moved["deliveries"]] == ["x"]
    assert moved["parts"]["x"] == ["Rally moved to 1pm"]


def test_posts_edit_with_several_texts_makes_a_thread(queued):
    post = queued.json("posts", "edit", "fujitsu/rally", "--text", "1/ Rally", "--text", "2/ 1pm")
    assert post["kind"] == "thread" and post["parts"]["x"] == ["1/ Rally", "2/ 1pm"]
    assert post["parts"]["facebook"] == ["Rally\n\n1pm"]


def test_posts_edit_refuses_a_time_the_clocks_skip_and_changes_nothing(queued):
    result = queued(
        "posts", "edit", "fujitsu/rally", "--at", "2031-03-30 01:30", "--tz", "Europe/London"
    )
    assert result.exit_code == 2 and "does not exist in Europe/London" in result.output
    [post] = queued.json("posts", "list")
    assert post["parts"]["x"] == ["Rally at noon"]


def test_posts_edit_refuses_a_text_too_long_for_x_and_names_the_field(queued):
    result = queued("posts", "edit", "fujitsu/rally", "--text", "a" * 300)
    assert result.exit_code == 1
    assert "text='aaaa" in result.output and "by X's count" in result.output
    assert "nothing was changed" in result.output


def test_posts_edit_refuses_a_post_that_has_started_going_out(queued):
    runtime = queued.runtime()
    with runtime.sessions() as s:
        s.execute(update(Delivery).where(Delivery.platform == "x").values(state="sent"))
        s.commit()
    result = queued("posts", "edit", "fujitsu/rally", "--text", "Too late")
    assert result.exit_code == 1
    assert "has started going out" in result.output and "x: sent" in result.output
    with runtime.sessions() as s:
        states = {d.platform: d.state for d in s.query(Delivery)}
    assert states == {"x": DeliveryState.SENT, "facebook": DeliveryState.PENDING}


def test_posts_edit_of_an_unknown_post_says_where_to_look(queued):
    result = queued("posts", "edit", "fujitsu/nothing", "--text", "Hello")
    assert result.exit_code == 1 and "posts list" in result.output


def test_posts_add_edit_and_cancel_are_audited_as_the_os_user(queued):
    queued("posts", "edit", "fujitsu/rally", "--at", "2031-03-01 13:00")
    queued("posts", "cancel", "fujitsu/rally")
    with queued.runtime().sessions() as s:
        post = s.query(Post).one()
        entries = [
            (e.action, e.actor, e.subject) for e in s.query(AuditEntry).order_by(AuditEntry.id)
        ]
    assert post.created_by == cli_actor()
    subject = f"post:{post.id}"
    assert entries == [
        ("post.create", cli_actor(), subject),
        ("post.edit", cli_actor(), subject),
        ("post.cancel", cli_actor(), subject),
    ]


def test_an_edit_that_changes_nothing_is_not_audited(queued):
    result = queued("posts", "edit", "fujitsu/rally", "--text", "Rally at noon")
    assert result.exit_code == 0 and "unchanged" in result.output
    with queued.runtime().sessions() as s:
        assert [e.action for e in s.query(AuditEntry)] == ["post.create"]


def test_posts_cancel_of_a_post_that_has_all_gone_out_changes_and_records_nothing(queued):
    with queued.runtime().sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENT, attempts=1))
        s.commit()
    result = queued("posts", "cancel", "fujitsu/rally")
    assert result.exit_code == 0
    assert (
        "cancelled 0 pending deliveries" in result.output
        and "2 had already gone out" in result.output
    )
    post = queued.json("posts", "show", "fujitsu/rally")
    assert post["status"] == "sent"
    with queued.runtime().sessions() as s:
        assert [e.action for e in s.query(AuditEntry)] == ["post.create"]
