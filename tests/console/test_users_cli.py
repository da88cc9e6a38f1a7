"""`python main.py users ...`: invite, list, role, disable, reset, 2fa-off; every change
in the audit log as cli:<os user>; and the first start's admin invite."""

from __future__ import annotations

import getpass
import re

import pytest

from bot.cli.users import console_banner
from bot.people import audit, users
from bot.storage.models import Invite

_LINK = re.compile(r"https://clarion\.example\.org/console/(invite|reset)/\S+")


def test_users_add_prints_a_one_time_invite_link_that_expires(users_cli):
    result = users_cli("users", "add", "Sam@Example.org", "--role", "editor", "--name", "Sam")
    assert result.exit_code == 0, result.output
    assert "invited for sam@example.org (editor)" in result.output
    assert _LINK.search(result.output).group(1) == "invite"
    assert "It works once, until" in result.output


def test_users_add_with_a_shorter_expiry(users_cli):
    result = users_cli("users", "add", "sam@example.org", "--role", "viewer", "--expires", "24h")
    assert result.exit_code == 0, result.output
    with users_cli.runtime().sessions() as session:
        user = users.get(session, "sam@example.org")
        invite = session.query(Invite).filter_by(user_id=user.id).one()
        assert (invite.expires_at - invite.created_at).total_seconds() == 24 * 3600


def test_a_bad_role_email_or_expiry_is_named_with_what_to_do(users_cli):
    role = users_cli("users", "add", "sam@example.org", "--role", "boss")
    assert role.exit_code == 2 and "role 'boss' is not one of: viewer, editor" in role.output
    email = users_cli("users", "add", "sam", "--role", "editor")
    assert email.exit_code == 1 and "email 'sam' is not an email address" in email.output
    expires = users_cli("users", "add", "s@example.org", "--role", "editor", "--expires", "soon")
    assert expires.exit_code == 2 and "use hours or days, e.g. 24h or 3d" in expires.output
    unknown = users_cli("users", "disable", "nobody@example.org")
    assert unknown.exit_code == 1 and "see `python main.py users list`" in unknown.output


@pytest.mark.parametrize(
    "typed", ["sam,boss@rival.example", "sam;boss@rival.example", "boss%rival@x.org"]
)
def test_a_console_email_naming_more_than_one_mailbox_is_refused(users_cli, typed):
    result = users_cli("users", "add", typed, "--role", "editor")
    assert result.exit_code == 1 and "is not one email address" in result.output
    assert "boss" not in users_cli("users", "list").output


def test_the_first_admins_local_address_is_still_an_email(users_cli):
    result = users_cli("users", "add", "ops@localhost", "--role", "admin")
    assert result.exit_code == 0, result.output


def test_list_role_disable_reset_and_the_audit_log_names_the_os_user(users_cli):
    users_cli("users", "add", "admin@example.org", "--role", "admin")
    users_cli("users", "add", "sam@example.org", "--role", "viewer")
    assert users_cli("users", "role", "sam@example.org", "editor").exit_code == 0
    listed = users_cli("users", "list").output
    assert re.search(r"sam@example.org\s+editor\s+invited", listed), listed
    reset = users_cli("users", "reset", "sam@example.org")
    assert "new invite for sam@example.org" in reset.output  # never accepted: a new invite
    assert users_cli("users", "disable", "sam@example.org").exit_code == 0
    assert re.search(r"sam@example.org\s+editor\s+disabled", users_cli("users", "list").output)
    with users_cli.runtime().sessions() as session:
        rows = audit.entries(session, audit.AuditFilter(actor=f"cli:{getpass.getuser()}"))
        actions = [r.action for r in reversed(rows)]
    assert actions == ["user.invite", "user.invite", "user.role", "user.invite", "user.disable"]


def test_the_first_start_prints_the_console_url_and_an_admin_invite_once(users_cli):
    runtime = users_cli.runtime()
    first = console_banner(runtime)
    assert first[0] == "volunteer console: https://clarion.example.org/console/"
    assert any(_LINK.search(line) for line in first)
    later = console_banner(runtime)
    assert later == ["volunteer console: https://clarion.example.org/console/"]
    with runtime.sessions() as session:
        assert users.get(session, "admin@localhost").role == "admin"
