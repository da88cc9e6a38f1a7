"""Connecting the campaign's Bluesky account (app password) and Mastodon account (the
server's OAuth 2) on the Accounts page, against the sandbox over real HTTP."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from html import unescape

import pytest
import requests
from sqlalchemy import select

from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import Account, AuditEntry, MastodonApp
from tests.support.console import console_runtime
from tests.support.web import local

PASSWORD = "abcd-efgh-ijkl-mnop"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def console(engine, make_console, sandbox):
    runtime = console_runtime(engine).with_sandbox(sandbox.url, sandbox.admin.app())
    return make_console(runtime)


def _accounts(console) -> list[Account]:
    with console.sessions() as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def _actions(console) -> list[str]:
    with console.sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.action.startswith("account."))
        return list(session.scalars(query.order_by(AuditEntry.id)))


def _bluesky(client, form_token, handle: str, password: str, account: str = ""):
    token = form_token(client, "/console/accounts")
    return client.post(
        "/console/accounts/bluesky/connect",
        data={"csrf": token, "handle": handle, "app_password": password, "account": account},
    )


def _authorize_url(page) -> str:
    """The server's authorize URL on the "Continue to ..." page."""
    assert page.status_code == 200, page.text
    return unescape(re.search(r'<a class="button" href="([^"]+)"', page.text).group(1))


def _mastodon(client, form_token, server: str, username: str, *, deny: bool = False) -> str:
    """Connect on the sandbox server's authorize form; where the server sends us back."""
    token = form_token(client, "/console/accounts")
    page = client.post("/console/accounts/mastodon/connect", data={"csrf": token, "server": server})
    back = requests.post(
        _authorize_url(page),
        data={"username": username, "decision": "deny" if deny else "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 302, back.text
    return local(back.headers["location"])


def test_an_admin_connects_a_bluesky_account_and_the_app_password_is_never_kept(
    console, form_token, sandbox
):
    made = sandbox.admin.create_bluesky_account(
        f"union-{next(_names)}", password=PASSWORD, followers=4200
    )
    client = console.client(Role.ADMIN)
    done = _bluesky(client, form_token, "@" + made["handle"], PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/console/accounts"
    page = client.get("/console/accounts")
    assert f"Connected the Bluesky account @{made['handle']}." in page.text
    assert f"Bluesky @{made['handle']}" in page.text and "working" in page.text
    assert PASSWORD not in page.text
    [account] = _accounts(console)
    assert (account.platform, account.platform_user_id, account.is_default) == (
        "bluesky",
        made["did"],
        True,
    )
    with console.sessions() as session:
        stored = session.execute(select(Account.credentials)).scalar_one()
        audit = [(e.before, e.after) for e in session.scalars(select(AuditEntry))]
    assert PASSWORD not in repr(stored) and PASSWORD not in repr(audit)
    assert _actions(console) == ["account.connect"]


def test_a_wrong_app_password_is_refused_beside_the_field_and_nothing_is_stored(
    console, form_token, sandbox
):
    made = sandbox.admin.create_bluesky_account(f"union-{next(_names)}", password=PASSWORD)
    client = console.client(Role.ADMIN)
    refused = _bluesky(client, form_token, made["handle"], "wrong-wrong-wrong-wrong")
    assert refused.status_code == 400
    assert 'id="bs-password-error"' in refused.text
    assert "Bluesky refused the sign-in" in refused.text
    assert f'value="{made["handle"]}"' in refused.text  # the handle is kept, typed once
    assert "wrong-wrong-wrong-wrong" not in refused.text
    assert _accounts(console) == [] and _actions(console) == []


def test_an_admin_connects_a_mastodon_account_on_its_own_server(console, form_token, sandbox):
    host = f"nurses{next(_names)}.social"
    sandbox.admin.mastodon_instance(host, max_characters=1000)
    sandbox.admin.create_mastodon_account(host, "NurseUnion", followers=700)
    client = console.client(Role.ADMIN)
    back = client.get(_mastodon(client, form_token, host.title(), "NurseUnion"))
    assert back.status_code == 303 and back.headers["location"] == "/console/accounts"
    page = client.get("/console/accounts")
    assert f"Connected the Mastodon account @NurseUnion@{host}." in page.text
    [account] = _accounts(console)
    assert (account.platform, account.handle, account.max_length, account.is_default) == (
        "mastodon",
        f"NurseUnion@{host}",
        1000,
        True,
    )
    creds = console.runtime.vault.open(account.credentials)
    assert creds.server == f"https://{host}" and creds.token not in page.text
    # Reconnect finds the server itself and reuses the app registered the first time.
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    again = client.post(
        "/console/accounts/mastodon/connect", data={"csrf": token, "account": str(account.id)}
    )
    sent = requests.post(
        _authorize_url(again),
        data={"username": "NurseUnion", "decision": "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert client.get(local(sent.headers["location"])).status_code == 303
    assert "Reconnected the Mastodon account" in client.get("/console/accounts").text
    with console.sessions() as session:
        apps = session.scalars(select(MastodonApp)).all()
    assert [a.redirect_uri for a in apps] == [
        "http://testserver/console/accounts/mastodon/callback"
    ]
    assert _actions(console) == ["account.connect", "account.reconnect"]


def test_the_mastodon_callback_cannot_be_replayed_or_used_by_another_browser(
    console, form_token, sandbox
):
    host = f"rail{next(_names)}.social"
    sandbox.admin.create_mastodon_account(host, "rmt")
    client = console.client(Role.ADMIN)
    back = _mastodon(client, form_token, host, "rmt")
    other = console.client(Role.ADMIN)
    assert other.get(back).status_code == 400
    assert client.get(back).status_code == 303
    assert client.get(back).status_code == 400  # once only
    assert len(_accounts(console)) == 1


def test_denying_on_the_mastodon_server_connects_nothing(console, form_token, sandbox):
    host = f"deny{next(_names)}.social"
    sandbox.admin.create_mastodon_account(host, "nope")
    client = console.client(Role.ADMIN)
    assert client.get(_mastodon(client, form_token, host, "nope", deny=True)).status_code == 303
    assert "nothing was connected" in client.get("/console/accounts").text
    assert _accounts(console) == []


def test_a_name_that_is_not_a_server_is_refused_beside_the_field(console, form_token):
    client = console.client(Role.ADMIN)
    token = form_token(client, "/console/accounts")
    answer = client.post(
        "/console/accounts/mastodon/connect", data={"csrf": token, "server": "not a server"}
    )
    assert answer.status_code == 400 and 'id="md-server-error"' in answer.text
    assert "not a Mastodon server" in answer.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.APPROVER])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/console/accounts/bluesky/connect"),
        ("POST", "/console/accounts/mastodon/connect"),
        ("GET", "/console/accounts/mastodon/callback"),
    ],
)
def test_only_admins_connect_bluesky_and_mastodon(console, role, method, path):
    assert console.client(role).request(method, path).status_code == 403


def test_a_viewer_is_offered_no_connect_forms_and_cannot_post_one(console, form_token, sandbox):
    made = sandbox.admin.create_bluesky_account(f"union-{next(_names)}", password=PASSWORD)
    viewer = console.client(Role.VIEWER)
    page = viewer.get("/console/accounts")
    assert "Connect a Bluesky account" not in page.text
    assert "Connect a Mastodon account" not in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    answer = viewer.post(
        "/console/accounts/bluesky/connect",
        data={"csrf": token, "handle": made["handle"], "app_password": PASSWORD},
    )
    assert answer.status_code == 403 and _accounts(console) == []


def test_a_form_without_its_csrf_token_is_refused(console, sandbox):
    made = sandbox.admin.create_bluesky_account(f"union-{next(_names)}", password=PASSWORD)
    client = console.client(Role.ADMIN)
    client.get("/console/accounts")
    answer = client.post(
        "/console/accounts/bluesky/connect",
        data={"handle": made["handle"], "app_password": PASSWORD},
    )
    assert answer.status_code == 403 and _accounts(console) == []


def test_reconnecting_a_bluesky_account_asks_for_a_new_app_password(console, form_token, sandbox):
    made = sandbox.admin.create_bluesky_account(f"union-{next(_names)}", password=PASSWORD)
    client = console.client(Role.ADMIN)
    _bluesky(client, form_token, made["handle"], PASSWORD)
    [account] = _accounts(console)
    token = form_token(client, "/console/accounts")
    asked = client.post(
        "/console/accounts/bluesky/connect", data={"csrf": token, "account": str(account.id)}
    )
    assert asked.status_code == 200
    assert f"Type an app password for @{made['handle']} to reconnect it." in asked.text
    bluesky_form = asked.text.split('id="connect-bluesky"', 1)[1]
    assert f'name="account" value="{account.id}"' in bluesky_form
    done = _bluesky(client, form_token, made["handle"], PASSWORD, account=str(account.id))
    assert done.status_code == 303
    assert "Reconnected the Bluesky account" in client.get("/console/accounts").text
    assert _actions(console) == ["account.connect", "account.reconnect"]
