"""Every console route, as every role and as nobody: the role it declares is enforced,
every form needs its CSRF token, every answer carries the security headers, and the
console can be switched off. Routes come from console_routes(), so a page added later
is walked too without touching this file."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from bot.console.app import console_routes
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute
from bot.storage.models import Account
from tests.support.console import PASSWORD, console_runtime, form_token
from tests.support.factories import add_account

ROLES: list[Role | None] = [None, *Role]
_PARAM = re.compile(r"{([a-z_]+)(?::([a-z]+))?}")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# A page with a form, signed out and signed in: where a client's CSRF token is read.
TOKEN_PAGE = {True: "/console/sign-in", False: "/console/account/2fa"}


def concrete(path: str) -> str:
    """The path with every parameter filled in (ids that do not exist: a 404 from an
    allowed role is fine; what matters is who gets past the role check)."""
    return "/console" + _PARAM.sub(
        lambda m: "999999" if m.group(2) in ("int", "rowid") else "no-such-thing", path
    )


def calls() -> list[tuple[ConsoleRoute, str]]:
    found = []
    for r in console_routes():
        for method in sorted(r.methods or {"GET"}):
            if method != "HEAD":
                found.append((r, method))
    return found


def test_every_console_route_declares_a_role_or_none_explicitly():
    routes = console_routes()
    assert routes, "no console routes"
    for r in routes:
        assert isinstance(r, ConsoleRoute), r
        assert r.role is None or isinstance(r.role, Role), r.path


# The only routes open to someone signed out. A route that loses its role becomes public
# and fails here, instead of being walked as a public page by the test below.
PUBLIC = {
    ("GET", "/sign-in"),
    ("POST", "/sign-in"),
    ("GET", "/sign-in/code"),
    ("POST", "/sign-in/code"),
    ("GET", "/invite/{secret}"),
    ("POST", "/invite/{secret}"),
    ("GET", "/reset/{secret}"),
    ("POST", "/reset/{secret}"),
    ("GET", "/static/{name}"),
}
# The only changes a viewer makes: to their own sign-in.
VIEWER_WRITES = {"/sign-out", "/account/2fa"}
# People, the audit log and connecting accounts are for admins only (the accounts list
# itself, /accounts, is for everyone).
ADMIN_ONLY = ("/people", "/audit", "/accounts/")


def test_only_sign_in_pages_are_public_and_each_area_asks_for_its_role():
    problems = []
    for r, method in calls():
        where = f"{method} {r.path} ({r.role})"
        if r.role is None:
            if (method, r.path) not in PUBLIC:
                problems.append(f"{where}: public, but not a sign-in page")
            continue
        if r.path.startswith(ADMIN_ONLY) and r.role is not Role.ADMIN:
            problems.append(f"{where}: an admin page open to less than admin")
        if method in WRITES and r.path not in VIEWER_WRITES and not r.role.allows(Role.EDITOR):
            problems.append(f"{where}: a change open to a viewer")
    assert problems == []


def test_every_route_answers_each_role_as_it_declares(console):
    problems = []
    for role in ROLES:
        client = console.client(role)
        token = form_token(client, TOKEN_PAGE[role is None])
        for r, method in calls():
            path = concrete(r.path)
            answer = client.request(
                method, path, data={"csrf": token} if method in WRITES else None
            )
            status = answer.status_code
            location = answer.headers.get("location", "")
            where = f"{method} {path} as {role}"
            if r.role is None:
                if status >= 500 or (status == 403 and method not in WRITES):
                    problems.append(f"{where}: {status} on a public page")
            elif role is None:
                if status != 303 or not location.startswith("/console/sign-in?next="):
                    problems.append(f"{where}: {status} {location}, not the sign-in page")
            elif not role.allows(r.role):
                if status != 403:
                    problems.append(f"{where}: {status}, needs {r.role}")
            elif status == 403 or status >= 500 or location.startswith("/console/sign-in?"):
                problems.append(f"{where}: {status} {location}, should be allowed")
            if role is not None and "clarion_console" not in client.cookies:
                client = console.client(role)  # that route signed out: sign in again
                token = form_token(client, TOKEN_PAGE[False])
    assert problems == []


def test_every_form_route_refuses_a_missing_or_wrong_csrf_token(console):
    admin = console.client(Role.ADMIN)
    form_token(admin, TOKEN_PAGE[False])  # the session has a token to compare with
    problems = []
    for r, method in calls():
        if method not in WRITES:
            continue
        path = concrete(r.path)
        for data in ({"name": "x"}, {"csrf": "forged", "name": "x"}):
            answer = admin.request(method, path, data=data)
            if answer.status_code != 403 or "This form has expired" not in answer.text:
                problems.append(f"{method} {path} with {data}: {answer.status_code}")
    assert problems == []


def test_every_answer_is_not_cached_not_framed_and_not_sniffed(console):
    admin = console.client(Role.ADMIN)
    anonymous = console.client(None)
    for r, method in calls():
        for client in (admin, anonymous):
            answer = client.request(method, concrete(r.path), data={} if method != "GET" else None)
            headers = answer.headers
            where = f"{method} {r.path} ({answer.status_code})"
            assert headers.get("cache-control") == "no-store", where
            assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), where
            assert headers.get("x-content-type-options") == "nosniff", where


def test_no_page_shows_a_password_a_session_secret_or_a_token_hash(console):
    admin = console.client(Role.ADMIN)
    secret = admin.cookies.get("clarion_console")
    with console.sessions() as session:
        from bot.storage.models import ConsoleSession, Invite, User

        hashes = [h for (h,) in session.query(ConsoleSession.token_hash)]
        hashes += [h for (h,) in session.query(Invite.token_hash)]
        hashes += [h for (h,) in session.query(User.password_hash) if h]
    assert secret and hashes
    for r, method in calls():
        if method != "GET":
            continue
        text = admin.get(concrete(r.path)).text
        for value in (PASSWORD, secret, *hashes):
            assert value not in text, f"{r.path} shows a secret"
    csv = admin.get("/console/audit.csv").text
    for value in (PASSWORD, secret, *hashes):
        assert value not in csv


@pytest.mark.parametrize("path", ["/console/", "/console/sign-in", "/console/people"])
def test_the_console_can_be_switched_off(engine, make_console, path):
    off = make_console(console_runtime(engine, CONSOLE_ENABLED="false"))
    client = TestClient(off.app, base_url="http://testserver", follow_redirects=False)
    assert client.get(path).status_code == 404


def test_no_page_shows_an_account_token_its_sealed_form_or_an_app_secret(
    engine, make_console, form_token
):
    secrets = {
        "X_CONSUMER_KEY": "x-consumer-key-4f1e9a",
        "X_CONSUMER_SECRET": "x-consumer-secret-77b2c0",
        "FACEBOOK_APP_ID": "1234567890",
        "FACEBOOK_APP_SECRET": "facebook-app-secret-c3d9e1",
    }
    harness = make_console(console_runtime(engine, **secrets))
    token = "campaign-access-token-9a8b7c6d"
    add_account(harness.sessions, harness.runtime.vault, "x", "union", token=token)
    add_account(harness.sessions, harness.runtime.vault, "facebook", "Union Page", token=token)
    with harness.sessions() as session:
        sealed = [a.credentials for a in session.query(Account)]
    hidden = [token, *sealed, *(v for k, v in secrets.items() if k != "FACEBOOK_APP_ID")]
    for role in Role:
        client = harness.client(role)
        for r, method in calls():
            if method != "GET":
                continue
            text = client.get("/console" + _PARAM.sub("1", r.path)).text  # real ids
            shown = [value for value in hidden if value in text]
            assert shown == [], f"{r.path} as {role} shows {shown}"


def test_the_console_serves_its_own_scripts_and_nothing_else_from_that_address(console):
    client = console.client(None)
    for name in ("console.js", "pledges.js"):
        answer = client.get(f"/console/static/{name}")
        assert answer.status_code == 200 and "javascript" in answer.headers["content-type"]
    for name in ("app.py", "..%2Fapp.py", "console.css", "%2e%2e%2fsettings"):
        assert client.get(f"/console/static/{name}").status_code == 404
