"""`alerts set`, `alerts test` and `alerts list`, as an organiser runs them."""

from __future__ import annotations

import json

from sqlalchemy import select

from bot.people.audit import cli_actor
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.models import AuditEntry, Campaign
from tests.support.alerting import HOOK_TOKEN, SECRET, Mail, Receiver
from tests.support.alerts_harness import AlertsCli


def make_campaign(cli: AlertsCli) -> Runtime:
    assert cli("alerts", "list").output == "no alerts\n"  # also creates the database
    runtime = Runtime(load_settings(cli.config, environ={}))
    with runtime.sessions() as session:
        session.add(Campaign(slug="demo", title="Fujitsu strike", timezone="Europe/London"))
        session.commit()
    return runtime


def test_set_then_test_reaches_the_email_and_the_webhook_and_list_shows_it(
    alerts_cli: AlertsCli, smtp: Mail, receiver: Receiver
):
    runtime = make_campaign(alerts_cli)
    env = {"HOOK_URL": receiver.url, "HOOK_SECRET": SECRET}
    result = alerts_cli(
        "alerts", "set", "demo",
        "--email", "organiser@example.org", "--email", "steward@example.org",
        "--webhook-from-env", "HOOK_URL", "--secret-from-env", "HOOK_SECRET",
        "--events", "delivery_failed,daemon_stopped",
        env=env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "webhook: 127.0.0.1:" in result.output and "(clarion, signed)" in result.output
    assert "events:  delivery_failed, daemon_stopped" in result.output
    assert HOOK_TOKEN not in result.output and SECRET not in result.output

    tested = alerts_cli("alerts", "test", "demo")
    assert tested.exit_code == 0, tested.output
    assert "email (organiser@example.org, steward@example.org): sent" in tested.output
    assert len(smtp.messages) == 1 and len(receiver.calls) == 1
    assert json.loads(receiver.calls[0][1])["test"] is True

    listed = alerts_cli("alerts", "list", "--json")
    (item,) = json.loads(listed.output)
    assert item["kind"] == "test" and {s["state"] for s in item["sends"]} == {"sent"}
    with runtime.sessions() as session:
        actions = [(a.action, a.actor) for a in session.scalars(select(AuditEntry))]
    assert ("alerts.settings", cli_actor()) in actions and ("alerts.test", cli_actor()) in actions
    runtime.close()


def test_a_test_alert_that_cannot_be_delivered_says_so_and_fails(
    alerts_cli: AlertsCli, receiver: Receiver
):
    make_campaign(alerts_cli).close()
    receiver.mode = 404
    alerts_cli(
        "alerts", "set", "demo", "--webhook", receiver.url, "--format", "slack"
    )  # fmt: skip
    tested = alerts_cli("alerts", "test", "demo")
    assert tested.exit_code == 1
    assert "webhook (127.0.0.1:" in tested.output and "undelivered" in tested.output
    assert "HTTP 404" in tested.output and HOOK_TOKEN not in tested.output


def test_bad_input_is_named_without_a_traceback(alerts_cli: AlertsCli):
    make_campaign(alerts_cli).close()
    result = alerts_cli("alerts", "set", "demo", "--email", "nobody")
    assert result.exit_code == 1
    assert "emails: 'nobody' is not an email address" in result.output
    missing = alerts_cli("alerts", "set", "nope", "--email", "a@example.org")
    assert "no campaign 'nope'" in missing.output
    unset = alerts_cli("alerts", "set", "demo", "--secret-from-env", "NOT_SET_ANYWHERE")
    assert (
        "--secret-from-env NOT_SET_ANYWHERE: that environment variable is not set" in unset.output
    )
    no_channels = alerts_cli("alerts", "test", "demo")
    assert "demo has no alert channels" in no_channels.output


def test_a_webhook_from_an_environment_variable_that_is_not_utf8_is_refused_unshown(
    alerts_cli: AlertsCli,
):
    make_campaign(alerts_cli).close()
    hook = "https://hooks.example/T0/secret-part\udcff"  # the byte 0xFF, as Python reads it
    for option in ("--webhook-from-env", "--secret-from-env"):
        result = alerts_cli("alerts", "set", "demo", option, "HOOK", env={"HOOK": hook})
        assert result.exit_code == 1, result.output
        assert f"{option} HOOK: that environment variable is not valid text" in result.output
        assert "the byte 0xFF" in result.output and "secret-part" not in result.output
        assert "unexpected error" not in result.output
