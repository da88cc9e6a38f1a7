"""Invite and reset links: one use, an expiry, password rules with clear errors, and
only a hash of the link's secret in the database."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from bot.console.roles import Role
from bot.people import users
from bot.storage.models import Invite, User

GOOD = "a long and memorable phrase"


def _invite(console, email="new@example.org", role=Role.EDITOR, **kwargs):
    with console.sessions() as session:
        link = users.invite(
            session, email=email, role=role, actor="cli:test", now=console.clock.now, **kwargs
        )
        session.commit()
        return urlsplit(link.url("http://testserver")).path, link.secret


def _accept(client, form_token, path, *, name="Ada", password=GOOD, again=None):
    return client.post(
        path,
        data={
            "csrf": form_token(client, path),
            "name": name,
            "password": password,
            "password_again": password if again is None else again,
        },
    )


def test_an_invite_link_sets_name_and_password_and_then_the_person_signs_in(console, form_token):
    path, _ = _invite(console)
    client = console.client(None)
    page = client.get(path)
    assert "You are invited as <strong>editor</strong>" in page.text
    done = _accept(client, form_token, path, name="Ada Lovelace")
    assert done.status_code == 303 and done.headers["location"] == "/console/sign-in"
    assert "Your password is set" in client.get("/console/sign-in").text
    signed_in = console.sign_in("new@example.org", GOOD)
    assert "Ada Lovelace" in signed_in.get("/console/").text


def test_an_invite_link_works_once(console, form_token):
    path, _ = _invite(console)
    client = console.client(None)
    assert _accept(client, form_token, path).status_code == 303
    assert client.get(path).status_code == 404
    assert "cannot be used" in client.get(path).text


def test_an_invite_link_expires_after_72_hours(console):
    path, _ = _invite(console)
    console.clock.now += timedelta(hours=72, seconds=1)
    assert console.client(None).get(path).status_code == 404


@pytest.mark.parametrize(
    ("password", "again", "error"),
    [
        ("short one", None, "Use at least 12 characters (this one has 9)."),
        ("new@example.org", None, "Do not use your email address as your password."),
        (GOOD, GOOD + "!", "The two passwords are not the same."),
    ],
)
def test_a_weak_or_mistyped_password_is_refused_beside_its_field(
    console, form_token, password, again, error
):
    path, _ = _invite(console)
    client = console.client(None)
    answer = _accept(client, form_token, path, password=password, again=again)
    assert answer.status_code == 400
    assert error in answer.text
    with console.sessions() as session:
        assert users.get(session, "new@example.org").password_hash is None


def test_only_a_hash_of_the_link_secret_and_an_argon2id_hash_of_the_password_are_stored(
    console, form_token
):
    path, secret = _invite(console)
    _accept(console.client(None), form_token, path)
    with console.sessions() as session:
        stored = session.scalars(select(Invite.token_hash)).one()
        password_hash = session.scalars(select(User.password_hash)).one()
    assert stored == users.token_hash(secret) and secret not in stored
    assert password_hash.startswith("$argon2id$") and GOOD not in password_hash


def test_a_reset_link_sets_a_new_password_and_ends_the_old_sessions(console, form_token):
    old = console.client(Role.EDITOR)
    with console.sessions() as session:
        link = users.reset_link(
            session, "editor@example.org", actor="cli:test", now=console.clock.now
        )
        session.commit()
    path = urlsplit(link.url("http://testserver")).path
    assert path.startswith("/console/reset/")
    client = console.client(None)
    assert "Choose a new password" in client.get(path).text
    assert _accept(client, form_token, path, password="another good phrase").status_code == 303
    assert old.get("/console/").status_code == 303
    console.sign_in("editor@example.org", "another good phrase")


def test_an_invite_for_an_email_that_already_has_an_account_says_what_to_do(console):
    _invite(console)
    with pytest.raises(users.PeopleError, match="users reset new@example.org"):
        _invite(console)


def test_a_refused_form_on_an_invite_link_is_logged_without_the_link_secret(
    console, form_token, caplog
):
    path, secret = _invite(console)
    client = console.client(None)
    with caplog.at_level("INFO"):
        answer = client.post(path, data={"csrf": "forged", "password": GOOD})
    assert answer.status_code == 403
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert "/console/invite/…" in ours and secret not in ours


def test_after_setting_a_password_the_sign_in_form_already_holds_the_email(console, form_token):
    path, _ = _invite(console)
    client = console.client(None)
    _accept(client, form_token, path, name="Ada Lovelace")
    page = client.get("/console/sign-in").text
    assert 'value="new@example.org"' in page
    assert "Sign in as new@example.org" in page
    assert 'value="new@example.org"' not in client.get("/console/sign-in").text  # once
