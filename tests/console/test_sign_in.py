"""Signing in and out of the console, and the role every page declares."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.console.roles import Role
from bot.people import audit, users
from tests.support.console import PASSWORD, console_runtime


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


def _try(client, form_token, email, password):
    return client.post(
        "/console/sign-in",
        data={"csrf": form_token(client, "/console/sign-in"), "email": email, "password": password},
    )


def test_five_wrong_passwords_lock_the_account_for_15_minutes_even_with_the_right_one(
    console, form_token
):
    console.add_user("ada@example.org", Role.EDITOR)
    client = console.client(None)
    answers = [_try(client, form_token, "ada@example.org", "wrong").status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]
    locked = _try(client, form_token, "ada@example.org", PASSWORD)
    assert locked.status_code == 429
    assert "Try again after" in locked.text and "(in 15 min)" in locked.text
    console.clock.now += timedelta(minutes=16)
    assert _try(client, form_token, "ada@example.org", PASSWORD).status_code == 303


def test_an_unknown_email_locks_the_same_way_so_the_answers_tell_nothing(console, form_token):
    client = console.client(None)
    answers = [_try(client, form_token, "ghost@example.org", "x").status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]


def test_too_many_attempts_from_one_address_are_refused_with_when_to_try_again(
    engine, make_console, form_token
):
    strict = make_console(console_runtime(engine, CONSOLE_ADDRESS_ATTEMPTS="3"))
    client = strict.client(None)
    codes = [_try(client, form_token, f"p{i}@example.org", "x").status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    refused = _try(client, form_token, "p9@example.org", "x")
    assert "Try again in 15 min" in refused.text
    assert int(refused.headers["retry-after"]) > 800


def test_a_session_ends_after_30_idle_minutes(console):
    client = console.client(Role.VIEWER)
    console.clock.now += timedelta(minutes=29)
    assert client.get("/console/").status_code == 200
    console.clock.now += timedelta(minutes=29)
    assert client.get("/console/").status_code == 200
    console.clock.now += timedelta(minutes=31)
    assert client.get("/console/").status_code == 303


def test_a_busy_session_still_ends_after_12_hours(console):
    client = console.client(Role.VIEWER)
    for _ in range(12 * 3 + 1):
        console.clock.now += timedelta(minutes=20)
        answer = client.get("/console/")
    assert answer.status_code == 303


def test_disabling_a_person_ends_their_open_session_at_once(console, form_token):
    editor = console.client(Role.EDITOR)
    assert editor.get("/console/").status_code == 200
    admin = console.client(Role.ADMIN)
    with console.sessions() as session:
        person = users.get(session, "editor@example.org")
        person_id = person.id
    done = admin.post(
        f"/console/people/{person_id}/disable", data={"csrf": form_token(admin, "/console/people")}
    )
    assert done.status_code == 303
    assert editor.get("/console/").status_code == 303
    again = _try(console.client(None), form_token, "editor@example.org", PASSWORD)
    assert again.status_code == 401


def test_sign_in_goes_back_to_the_page_asked_for_but_never_to_another_site(console, form_token):
    console.add_user("ada@example.org", Role.ADMIN)
    for asked, landed in (("/console/audit", "/console/audit"), ("//evil.example/", "/console/")):
        client = console.client(None)
        answer = client.post(
            "/console/sign-in",
            data={
                "csrf": form_token(client, "/console/sign-in"),
                "email": "ada@example.org",
                "password": PASSWORD,
                "next": asked,
            },
        )
        assert answer.headers["location"] == landed


def test_signing_in_and_failing_are_in_the_audit_log_without_the_password(console, form_token):
    console.add_user("ada@example.org", Role.EDITOR)
    client = console.client(None)
    _try(client, form_token, "ada@example.org", "a wrong guess")
    _try(client, form_token, "ada@example.org", PASSWORD)
    with console.sessions() as session:
        rows = audit.entries(session, audit.AuditFilter(actor="ada@example.org"))
        actions = [r.action for r in rows]
        text = repr([(r.before, r.after) for r in rows])
    assert actions[:2] == ["user.sign_in", "user.sign_in_failed"]
    assert "a wrong guess" not in text and PASSWORD not in text


def test_the_session_cookie_is_httponly_samesite_lax_scoped_and_secure_on_https(
    engine, make_console
):
    https = make_console(console_runtime(engine, WEB_BASE_URL="https://clarion.example.org"))
    https.add_user("ada@example.org", Role.VIEWER)
    client = https.anonymous()
    client.base_url = "https://testserver"
    page = client.get("/console/sign-in")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/console/sign-in",
        data={"csrf": token, "email": "ada@example.org", "password": PASSWORD},
    )
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("clarion_console=")
    )
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= attributes
    assert "samesite=lax" in cookie.lower() and "path=/console" in cookie.lower()


def test_signing_in_replaces_any_session_and_form_token_the_browser_had_before(console, form_token):
    console.add_user("ada@example.org", Role.EDITOR)
    client = console.client(None)
    # A cookie planted by someone else (session fixation) and the signed-out form token.
    client.cookies.set("clarion_console", "planted-by-an-attacker", path="/console")
    before = form_token(client, "/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"csrf": before, "email": "ada@example.org", "password": PASSWORD, "next": ""},
    )
    assert answer.status_code == 303
    fresh = answer.cookies.get("clarion_console")
    assert fresh and fresh != "planted-by-an-attacker"
    signed_in = console.anonymous()
    signed_in.cookies = client.cookies
    signed_in.cookies.set("clarion_console", fresh, path="/console")
    after = form_token(signed_in, "/console/account/2fa")
    assert after != before
    planted = console.anonymous()
    planted.cookies.set("clarion_console", "planted-by-an-attacker", path="/console")
    assert planted.get("/console/").status_code == 303  # the planted value signs nobody in


def test_a_schedule_upload_without_its_form_token_is_refused(console, form_token):
    editor = console.client(Role.EDITOR)
    form_token(editor, "/console/schedules")
    for data in ({}, {"csrf": "forged"}):
        answer = editor.post(
            "/console/schedules/check",
            data=data,
            files={"upload": ("demo.yaml", b"campaign: demo\nposts: []\n", "text/yaml")},
        )
        assert answer.status_code == 403 and "This form has expired" in answer.text


def test_a_team_signing_in_from_one_office_is_not_refused_by_the_address_limit(
    engine, make_console, form_token
):
    strict = make_console(console_runtime(engine, CONSOLE_ADDRESS_ATTEMPTS="3"))
    team = [strict.add_user(f"rep{i}@example.org", Role.EDITOR) for i in range(5)]
    codes = [_try(strict.client(None), form_token, email, PASSWORD).status_code for email in team]
    assert codes == [303] * 5
    wrong = [_try(strict.client(None), form_token, team[0], "x").status_code for _ in range(4)]
    assert wrong[-1] == 429  # wrong passwords still count
