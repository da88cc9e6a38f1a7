"""The People page: admins invite, change roles, disable and issue reset links."""

from __future__ import annotations

import re

from bot.console.roles import Role
from bot.people import audit, users

_LINK = re.compile(r'id="the-link">(http://testserver(/console/(?:invite|reset)/[^<]+))<')


def _person_id(console, email):
    with console.sessions() as session:
        return users.get(session, email).id


def test_an_admin_invites_from_the_people_page_and_sees_the_link_once(console, form_token):
    admin = console.client(Role.ADMIN)
    answer = admin.post(
        "/console/people/invite",
        data={
            "csrf": form_token(admin, "/console/people"),
            "email": "Sam@Example.org",
            "name": "Sam",
            "role": "editor",
        },
    )
    assert answer.status_code == 200
    url, path = _LINK.search(answer.text).groups()
    assert "Invite for sam@example.org (editor)" in answer.text
    assert url not in admin.get("/console/people").text  # not shown again
    assert console.client(None).get(path).status_code == 200
    with console.sessions() as session:
        rows = audit.entries(session, audit.AuditFilter(action="user.invite"))
        assert [(r.actor, r.subject) for r in rows][0] == ("admin@example.org", "sam@example.org")


def test_an_invite_with_a_bad_email_or_role_says_so_beside_the_field(console, form_token):
    admin = console.client(Role.ADMIN)
    answer = admin.post(
        "/console/people/invite",
        data={
            "csrf": form_token(admin, "/console/people"),
            "email": "not-an-email",
            "role": "boss",
        },
    )
    assert answer.status_code == 400
    assert "is not an email address" in answer.text
    assert "role &#39;boss&#39; is not one of: viewer, editor, approver, admin" in answer.text


def test_an_admin_changes_a_role_and_the_audit_log_has_before_and_after(console, form_token):
    console.client(Role.VIEWER)
    admin = console.client(Role.ADMIN)
    person = _person_id(console, "viewer@example.org")
    done = admin.post(
        f"/console/people/{person}/role",
        data={"csrf": form_token(admin, "/console/people"), "role": "editor"},
    )
    assert done.status_code == 303
    assert "viewer@example.org is now editor." in admin.get("/console/people").text
    with console.sessions() as session:
        row = audit.entries(session, audit.AuditFilter(action="user.role"))[0]
        assert (row.before, row.after) == ({"role": "viewer"}, {"role": "editor"})


def test_the_last_admin_cannot_be_demoted_or_disabled(console, form_token):
    admin = console.client(Role.ADMIN)
    me = _person_id(console, "admin@example.org")
    token = form_token(admin, "/console/people")
    admin.post(f"/console/people/{me}/role", data={"csrf": token, "role": "viewer"})
    assert "is the only admin who can sign in" in admin.get("/console/people").text
    admin.post(f"/console/people/{me}/disable", data={"csrf": token})
    assert admin.get("/console/people").status_code == 200


def test_an_admin_issues_a_reset_link_from_the_people_page(console, form_token):
    console.client(Role.EDITOR)
    admin = console.client(Role.ADMIN)
    person = _person_id(console, "editor@example.org")
    answer = admin.post(
        f"/console/people/{person}/reset", data={"csrf": form_token(admin, "/console/people")}
    )
    assert answer.status_code == 200
    _, path = _LINK.search(answer.text).groups()
    assert path.startswith("/console/reset/")


def test_an_editor_cannot_open_the_people_page(console):
    answer = console.client(Role.EDITOR).get("/console/people")
    assert answer.status_code == 403
    assert "It needs the admin role" in answer.text


def test_the_menu_shows_people_and_audit_to_admins_only(console):
    admin_page = console.client(Role.ADMIN).get("/console/people").text
    assert 'href="/console/audit"' in admin_page and 'aria-current="page">People' in admin_page
    approver_page = console.client(Role.APPROVER).get("/console/").text
    assert 'href="/console/people"' not in approver_page
