"""The Accounts page: connect, reconnect, check and disconnect against the sandbox."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from sqlalchemy import select

from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import (
    Account,
    AccountStatus,
    AuditEntry,
    Delivery,
    DeliveryState,
    OAuthRequest,
)
from tests.support.console import console_runtime
from tests.support.factories import queue, spec
from tests.support.web import consent_facebook, consent_x, local


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def console(engine, make_console, sandbox):
    """The console on a runtime whose X and Facebook are the sandbox."""
    runtime = console_runtime(engine).with_sandbox(sandbox.url, sandbox.admin.app())
    return make_console(runtime)


def _onwards(page) -> str:
    """The platform's sign-in URL on the "Continue to ..." page."""
    assert page.status_code == 200, page.text
    return unescape(re.search(r'<a class="button" href="([^"]+)"', page.text).group(1))


def _connect_x(console, client, form_token, handle: str, account: str = "") -> str:
    """Connect (or reconnect) on the sandbox's X consent page; where X sends us back."""
    token = form_token(client, "/console/accounts")
    page = client.post("/console/accounts/x/connect", data={"csrf": token, "account": account})
    return local(consent_x(_onwards(page), handle))


def _accounts(console) -> list[Account]:
    with console.sessions() as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def _actions(console) -> list[str]:
    """The audit log's account actions, oldest first."""
    with console.sessions() as session:
        query = select(AuditEntry.action).where(AuditEntry.action.startswith("account."))
        return list(session.scalars(query.order_by(AuditEntry.id)))


def test_an_admin_connects_the_campaigns_x_account_on_the_consent_page(console, form_token):
    client = console.client(Role.ADMIN)
    back = client.get(_connect_x(console, client, form_token, "union_hq"))
    assert back.status_code == 303 and back.headers["location"] == "/console/accounts"
    page = client.get("/console/accounts")
    assert "Connected the X account @union_hq." in page.text
    assert "X @union_hq" in page.text and "working" in page.text
    [account] = _accounts(console)
    assert account.owner_kind == "campaign" and account.is_default
    creds = console.runtime.vault.open(account.credentials)
    assert creds.token not in page.text and creds.secret not in page.text
    assert _actions(console)[-1] == "account.connect"
    with console.sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.after["handle"] == "union_hq"
    assert creds.token not in repr((entry.before, entry.after))


def test_the_x_callback_cannot_be_replayed_or_used_by_another_browser(console, form_token):
    client = console.client(Role.ADMIN)
    callback = _connect_x(console, client, form_token, "union_hq")
    other = console.sign_in(console.made[Role.ADMIN])
    assert other.get(callback).status_code == 400  # not started in that browser
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400
    assert len(_accounts(console)) == 1


def test_a_pledge_callback_cannot_use_a_console_sign_in(console, form_token):
    client = console.client(Role.ADMIN)
    _connect_x(console, client, form_token, "union_hq")
    with console.sessions() as session:
        row = session.scalars(select(OAuthRequest)).one()
    assert row.pledge_campaign_id is None  # a pledge's claim names its campaign


def test_cancelling_on_x_connects_nothing(console, form_token):
    client = console.client(Role.ADMIN)
    token = form_token(client, "/console/accounts")
    page = client.post("/console/accounts/x/connect", data={"csrf": token})
    back = client.get(local(consent_x(_onwards(page), "union_hq", cancel=True)))
    assert back.status_code == 303
    assert "You cancelled on X" in client.get("/console/accounts").text
    assert _accounts(console) == []


def test_check_now_marks_a_revoked_token_needs_reconnect_and_reconnect_clears_it(
    console, form_token, sandbox
):
    client = console.client(Role.ADMIN)
    client.get(_connect_x(console, client, form_token, "union_hq"))
    [account] = _accounts(console)
    token = console.runtime.vault.open(account.credentials).token

    works = client.post(
        f"/console/accounts/{account.id}/check",
        data={"csrf": form_token(client, "/console/accounts")},
    )
    assert works.status_code == 303
    page = client.get("/console/accounts").text
    assert "The token works." in page and "<dd>never</dd>" not in page

    sandbox.admin.revoke("x", token)
    client.post(
        f"/console/accounts/{account.id}/check",
        data={"csrf": form_token(client, "/console/accounts")},
    )
    [account] = _accounts(console)
    assert account.status == AccountStatus.NEEDS_RECONNECT
    assert account.last_checked_at is not None
    page = client.get("/console/accounts").text
    assert "reconnect the account" in page and "needs reconnecting" in page
    assert "the token was refused when checked" in page

    back = client.get(_connect_x(console, client, form_token, "union_hq", str(account.id)))
    assert back.status_code == 303
    assert "Reconnected the X account @union_hq." in client.get("/console/accounts").text
    [account] = _accounts(console)
    assert account.status == AccountStatus.ACTIVE and account.status_reason == ""
    assert console.runtime.vault.open(account.credentials).token != token
    assert _actions(console) == [
        "account.connect",
        "account.check",
        "account.check",
        "account.reconnect",
    ]


def test_reconnecting_as_another_account_is_refused(console, form_token):
    client = console.client(Role.ADMIN)
    client.get(_connect_x(console, client, form_token, "union_hq"))
    [account] = _accounts(console)
    refused = client.get(_connect_x(console, client, form_token, "someone_else", str(account.id)))
    assert refused.status_code == 409
    assert "you signed in as @someone_else, but this is @union_hq" in refused.text.lower()
    assert len(_accounts(console)) == 1


def test_disconnect_asks_first_then_deletes_the_token_and_keeps_the_row(console, form_token):
    client = console.client(Role.ADMIN)
    client.get(_connect_x(console, client, form_token, "union_hq"))
    [account] = _accounts(console)
    queue(console.sessions, spec(to=("x",)))
    confirm = client.get(f"/console/accounts/{account.id}/disconnect")
    assert "Disconnect X @union_hq?" in confirm.text
    assert "1 post still waiting to go out on this account will be cancelled" in confirm.text
    assert _accounts(console)[0].credentials  # nothing happened yet
    done = client.post(
        f"/console/accounts/{account.id}/disconnect",
        data={"csrf": form_token(client, f"/console/accounts/{account.id}/disconnect")},
    )
    assert done.status_code == 303
    [account] = _accounts(console)
    assert account.credentials == "" and account.status == AccountStatus.DISABLED
    assert not account.is_default
    page = client.get("/console/accounts").text
    assert "its token is deleted; 1 waiting posts to it were cancelled" in page
    assert "disconnected" in page and "Check now" not in page
    assert _actions(console)[-1] == "account.disconnect"
    with console.sessions() as session:
        assert list(session.scalars(select(Delivery.state))) == [DeliveryState.CANCELLED]


def test_an_admin_connects_the_facebook_page_they_pick(console, form_token):
    client = console.client(Role.ADMIN)
    token = form_token(client, "/console/accounts")
    page = client.post("/console/accounts/facebook/connect", data={"csrf": token})
    dialog = _onwards(page)
    assert "/dialog/oauth" in dialog and "pages_manage_posts" in dialog
    assert "console%2Faccounts%2Ffacebook%2Fcallback" in dialog
    back = client.get(local(consent_facebook(dialog, "Ann Rep", "Union Branch", followers=900)))
    assert back.status_code == 303
    picker = client.get(back.headers["location"])
    assert "Union Branch" in picker.text and "(900 followers)" in picker.text
    assert "access_token" not in picker.text
    page_id = picker.text.split('name="page" value="')[1].split('"')[0]
    done = client.post(
        "/console/accounts/facebook/pages",
        data={"csrf": form_token(client, "/console/accounts/facebook/pages"), "page": page_id},
    )
    assert done.status_code == 303
    assert "Connected the Facebook Page Union Branch." in client.get("/console/accounts").text
    [account] = _accounts(console)
    assert account.platform == "facebook" and account.platform_user_id == page_id
    assert account.owner_kind == "campaign"
    # The Pages offered are blanked once one is picked.
    with console.sessions() as session:
        assert all(not row.secret for row in session.scalars(select(OAuthRequest)))


def test_check_now_marks_a_revoked_facebook_page_token_needs_reconnect(
    console, form_token, sandbox
):
    client = console.client(Role.ADMIN)
    page = client.post(
        "/console/accounts/facebook/connect",
        data={"csrf": form_token(client, "/console/accounts")},
    )
    back = client.get(local(consent_facebook(_onwards(page), "Bo Rep", "Bo's Branch")))
    picker = client.get(back.headers["location"])
    page_id = picker.text.split('name="page" value="')[1].split('"')[0]
    client.post(
        "/console/accounts/facebook/pages",
        data={"csrf": form_token(client, "/console/accounts/facebook/pages"), "page": page_id},
    )
    [account] = _accounts(console)
    sandbox.admin.revoke("facebook", console.runtime.vault.open(account.credentials).token)
    client.post(
        f"/console/accounts/{account.id}/check",
        data={"csrf": form_token(client, "/console/accounts")},
    )
    [account] = _accounts(console)
    assert account.status == AccountStatus.NEEDS_RECONNECT


def test_a_viewer_sees_status_but_no_buttons(console, form_token):
    admin = console.client(Role.ADMIN)
    admin.get(_connect_x(console, admin, form_token, "union_hq"))
    page = console.client(Role.VIEWER).get("/console/accounts")
    assert page.status_code == 200
    assert "@union_hq" in page.text and "working" in page.text
    assert "Reconnect" not in page.text and "Connect an X account" not in page.text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.APPROVER])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/console/accounts/x/connect"),
        ("GET", "/console/accounts/x/callback"),
        ("POST", "/console/accounts/facebook/connect"),
        ("GET", "/console/accounts/facebook/callback"),
        ("GET", "/console/accounts/facebook/pages"),
        ("POST", "/console/accounts/facebook/pages"),
        ("POST", "/console/accounts/1/check"),
        ("GET", "/console/accounts/1/disconnect"),
        ("POST", "/console/accounts/1/disconnect"),
    ],
)
def test_only_admins_change_accounts(console, role, method, path):
    answer = console.client(role).request(method, path)
    assert answer.status_code == 403


def test_signed_out_people_are_sent_to_sign_in(console):
    answer = console.client(None).get("/console/accounts")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/sign-in")


def test_connecting_without_the_apps_keys_names_the_settings_to_set(
    engine, make_console, form_token
):
    bare = make_console(console_runtime(engine))
    client = bare.client(Role.ADMIN)
    token = form_token(client, "/console/accounts")
    answer = client.post("/console/accounts/x/connect", data={"csrf": token})
    assert answer.status_code == 409
    assert "needs X_CONSUMER_KEY and X_CONSUMER_SECRET in config.env" in answer.text
    answer = client.post("/console/accounts/facebook/connect", data={"csrf": token})
    assert "needs FACEBOOK_APP_ID and FACEBOOK_APP_SECRET in config.env" in answer.text


def test_a_platform_that_does_not_answer_changes_nothing(console, form_token, sandbox):
    client = console.client(Role.ADMIN)
    client.get(_connect_x(console, client, form_token, "union_hq"))
    [before] = _accounts(console)
    sandbox.admin.set_faults("x", error_rate=1.0)
    try:
        client.post(
            f"/console/accounts/{before.id}/check",
            data={"csrf": form_token(client, "/console/accounts")},
        )
    finally:
        sandbox.admin.set_faults("x", error_rate=0.0)
    assert "did not answer; nothing was changed" in client.get("/console/accounts").text
    [after] = _accounts(console)
    assert after.status == AccountStatus.ACTIVE
    assert after.last_checked_at == before.last_checked_at
    assert _actions(console) == ["account.connect"]
