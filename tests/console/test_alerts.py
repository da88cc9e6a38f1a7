"""The console's alert pages: who may open them, the channel form (the URL and secret
are write-only), errors beside their field, and the Send test alert button."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, select

from bot.console.roles import Role
from bot.runtime.wiring import Runtime
from bot.storage.models import AlertChannels, AuditEntry, Campaign
from tests.support.alerting import (
    HOOK_TOKEN,
    SECRET,
    Mail,
    Receiver,
    running_receiver,
    running_smtp,
)
from tests.support.console import ConsoleHarness, console_runtime, form_token


@pytest.fixture
def smtp() -> Iterator[Mail]:
    with running_smtp() as mail:
        yield mail


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def alerts_console(
    engine: Engine, make_console: Callable[[Runtime], ConsoleHarness], smtp: Mail
) -> ConsoleHarness:
    runtime = console_runtime(
        engine, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_STARTTLS="off"
    )
    harness = make_console(runtime)
    with harness.sessions() as session:
        session.add(Campaign(slug="demo", title="Fujitsu strike", timezone="Europe/London"))
        session.commit()
    return harness


EDIT = "/console/alerts/settings/demo"


def save(client, **fields: object):  # type: ignore[no-untyped-def]
    data = {"csrf": form_token(client, EDIT), **fields}
    return client.post(EDIT, data=data)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN])
def test_everyone_signed_in_can_read_the_inbox(alerts_console, role):
    page = alerts_console.client(role).get("/console/alerts")
    assert page.status_code == 200 and "<h1>Alerts</h1>" in page.text
    assert ('href="/console/alerts/settings"' in page.text) is (role is Role.ADMIN)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.APPROVER])
def test_only_an_admin_can_open_the_alert_settings(alerts_console, role):
    client = alerts_console.client(role)
    assert client.get("/console/alerts/settings").status_code == 403
    assert client.get(EDIT).status_code == 403


def test_signed_out_the_inbox_sends_you_to_sign_in(alerts_console):
    answer = alerts_console.client(None).get("/console/alerts")
    assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]


def test_an_admin_sets_the_channels_and_the_url_and_secret_are_never_shown(
    alerts_console, receiver
):
    client = alerts_console.client(Role.ADMIN)
    answer = save(
        client,
        events=["delivery_failed", "daemon_stopped"],
        emails="organiser@example.org\nsteward@example.org",
        webhook_url=receiver.url,
        webhook_format="clarion",
        webhook_secret=SECRET,
    )
    assert answer.status_code == 303
    page = client.get(EDIT)
    assert "Alert settings for Fujitsu strike saved." in page.text
    assert "steward@example.org" in page.text and "Set: 127.0.0.1:" in page.text
    assert 'value="delivery_failed" checked' in page.text
    assert 'value="delivery_missed" checked' not in page.text
    for shown in (page.text, client.get("/console/alerts/settings").text):
        assert HOOK_TOKEN not in shown and SECRET not in shown
    with alerts_console.sessions() as session:
        (entry,) = session.scalars(select(AuditEntry).where(AuditEntry.action == "alerts.settings"))
    assert entry.actor == "admin@example.org"
    assert HOOK_TOKEN not in json.dumps(entry.after) and SECRET not in json.dumps(entry.after)

    # Saved again with the URL and secret left blank: both are kept.
    assert (
        save(client, events=["delivery_failed"], emails="organiser@example.org").status_code == 303
    )
    assert "Set: 127.0.0.1:" in client.get(EDIT).text


def test_a_bad_address_is_shown_beside_its_field_and_nothing_is_saved(alerts_console):
    client = alerts_console.client(Role.ADMIN)
    answer = save(client, emails="organiser@example.org\nnot-an-address", webhook_format="clarion")
    assert answer.status_code == 400
    assert re.search(
        r'id="emails-error">&#39;not-an-address&#39; is not an email address', answer.text
    )
    assert 'aria-describedby="emails-error"' in answer.text
    assert "not-an-address</textarea>" in answer.text  # what was typed stays
    with alerts_console.sessions() as session:
        assert session.scalars(select(AlertChannels)).first() is None


def test_a_clarion_webhook_without_a_secret_is_refused_beside_the_secret(alerts_console, receiver):
    client = alerts_console.client(Role.ADMIN)
    answer = save(client, webhook_url=receiver.url, webhook_format="clarion")
    assert answer.status_code == 400
    assert 'id="webhook_secret-error">the clarion webhook format is signed' in answer.text


def test_send_test_alert_reaches_the_email_and_the_webhook_and_the_inbox(
    alerts_console, receiver, smtp
):
    client = alerts_console.client(Role.ADMIN)
    save(
        client,
        events=["delivery_failed"],
        emails="organiser@example.org",
        webhook_url=receiver.url,
        webhook_format="discord",
    )
    answer = client.post(EDIT + "/test", data={"csrf": form_token(client, EDIT)})
    assert answer.status_code == 303
    shown = client.get(answer.headers["location"])
    assert "Test alert sent (2 channel(s))." in shown.text
    assert "Test alert for Fujitsu strike" in shown.text
    assert len(smtp.messages) == 1 and len(receiver.calls) == 1
    assert "content" in json.loads(receiver.calls[0][1])
    viewer_inbox = alerts_console.client(Role.VIEWER).get("/console/alerts").text
    assert "Test alert for Fujitsu strike" in viewer_inbox and "webhook: sent" in viewer_inbox
    assert HOOK_TOKEN not in viewer_inbox


def test_send_test_alert_without_a_token_is_refused(alerts_console):
    client = alerts_console.client(Role.ADMIN)
    client.get(EDIT)
    assert client.post(EDIT + "/test", data={"csrf": "forged"}).status_code == 403
