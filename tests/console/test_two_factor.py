"""The optional TOTP second factor (RFC 6238): set up from a key shown as text, asked at
sign-in once on, each code good once; admins can require it for approvers and admins."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp

from bot.console.roles import Role
from bot.people import users
from tests.support.console import PASSWORD

_KEY = re.compile(r'id="totp-key">([A-Z2-7]+)<')


def _turn_on(client, form_token, clock) -> str:
    page = client.get("/console/account/2fa")
    key = _KEY.search(page.text).group(1)
    assert "otpauth://totp/Clarion" in page.text
    done = client.post(
        "/console/account/2fa",
        data={
            "csrf": form_token(client, "/console/account/2fa"),
            "code": pyotp.TOTP(key).at(clock.now),
        },
    )
    assert done.status_code == 303, done.text
    return key


def _password_step(console, form_token, email):
    client = console.client(None)
    answer = client.post(
        "/console/sign-in",
        data={
            "csrf": form_token(client, "/console/sign-in"),
            "email": email,
            "password": PASSWORD,
        },
    )
    assert answer.headers["location"] == "/console/sign-in/code"
    return client


def _code(client, form_token, code):
    return client.post(
        "/console/sign-in/code",
        data={"csrf": form_token(client, "/console/sign-in/code"), "code": code},
    )


def test_with_two_step_on_the_password_alone_does_not_open_the_console(console, form_token):
    key = _turn_on(console.client(Role.EDITOR), form_token, console.clock)
    console.clock.now += timedelta(seconds=60)
    client = _password_step(console, form_token, "editor@example.org")
    assert client.get("/console/").status_code == 303
    wrong = _code(client, form_token, "000000")
    assert wrong.status_code == 401 and "That code is not right" in wrong.text
    right = _code(client, form_token, pyotp.TOTP(key).at(console.clock.now))
    assert right.status_code == 303
    assert client.get("/console/").status_code == 200


def test_a_code_is_accepted_only_once(console, form_token):
    key = _turn_on(console.client(Role.EDITOR), form_token, console.clock)
    console.clock.now += timedelta(seconds=60)
    code = pyotp.TOTP(key).at(console.clock.now)
    first = _password_step(console, form_token, "editor@example.org")
    assert _code(first, form_token, code).status_code == 303
    second = _password_step(console, form_token, "editor@example.org")
    assert _code(second, form_token, code).status_code == 401


def test_the_secret_is_sealed_in_the_database(console, form_token):
    key = _turn_on(console.client(Role.EDITOR), form_token, console.clock)
    with console.sessions() as session:
        stored = users.get(session, "editor@example.org").totp_secret
    assert stored and key not in stored


def test_when_an_admin_requires_it_an_approver_must_set_it_up_before_anything_else(
    console, form_token
):
    admin = console.client(Role.ADMIN)
    _turn_on(admin, form_token, console.clock)
    saved = admin.post(
        "/console/people/settings",
        data={"csrf": form_token(admin, "/console/people"), "require_2fa": "on"},
    )
    assert saved.status_code == 303
    approver = console.client(Role.APPROVER)
    answer = approver.get("/console/")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/account/2fa"
    assert "An admin requires two-step sign-in" in approver.get("/console/account/2fa").text
    _turn_on(approver, form_token, console.clock)
    assert approver.get("/console/").status_code == 200
    editor = console.client(Role.EDITOR)
    assert editor.get("/console/").status_code == 200  # editors are not required to


def test_an_admin_turns_a_lost_second_factor_off(console, form_token):
    _turn_on(console.client(Role.EDITOR), form_token, console.clock)
    admin = console.client(Role.ADMIN)
    with console.sessions() as session:
        person_id = users.get(session, "editor@example.org").id
    admin.post(
        f"/console/people/{person_id}/2fa-off", data={"csrf": form_token(admin, "/console/people")}
    )
    again = console.client(Role.EDITOR)  # signs in with the password alone
    assert again.get("/console/").status_code == 200
