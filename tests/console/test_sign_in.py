"""Signing in and out of the console, and the role every page declares."""

from __future__ import annotations

from bot.console.roles import Role
from tests.console.conftest import PASSWORD


def test_a_signed_out_visitor_is_sent_to_the_sign_in_page(console):
    answer = console.client(None).get("/console/")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2F"


def test_a_viewer_signs_in_with_the_form_and_sees_the_console(console):
    page = console.client(Role.VIEWER).get("/console/")
    assert page.status_code == 200
    assert "Viewer" in page.text and "Sign out" in page.text


def test_a_wrong_password_is_refused_without_saying_whether_the_email_exists(console, form_token):
    console.add_user("ada@example.org", Role.EDITOR)
    client = console.client(None)
    answers = []
    for email in ("ada@example.org", "nobody@example.org"):
        answer = client.post(
            "/console/sign-in",
            data={
                "csrf": form_token(client, "/console/sign-in"),
                "email": email,
                "password": "not the password",
            },
        )
        answers.append((answer.status_code, "do not match" in answer.text))
    assert answers == [(401, True), (401, True)]


def test_signing_out_ends_the_session_on_the_server(console, form_token):
    client = console.client(Role.EDITOR)
    cookie = client.cookies.get("clarion_console")
    out = client.post("/console/sign-out", data={"csrf": form_token(client, "/console/")})
    assert out.status_code == 303
    replay = console.anonymous()
    replay.cookies.set("clarion_console", cookie, path="/console")
    assert replay.get("/console/").status_code == 303


def test_every_console_page_is_not_cached_and_not_framed(console):
    page = console.client(None).get("/console/sign-in")
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert PASSWORD not in page.text
