"""Webhook payloads and signatures, and the channel settings' checks (no network)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.alerts import channel_settings
from bot.alerts.channel_settings import ChannelSettingsError
from bot.alerts.channels.base import AlertMessage
from bot.alerts.channels.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    build,
    classify,
    sign,
    verify,
)
from bot.alerts.events import AlertKind, WebhookFormat
from bot.storage.models import AlertChannels, Campaign

AT = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
NOW = 1_796_000_000


def message(text: str = "3 posts failed on X: token rejected", **changes: object) -> AlertMessage:
    values: dict[str, object] = {
        "id": 7,
        "kind": "delivery_failed",
        "campaign_slug": "demo",
        "campaign_title": "Fujitsu strike",
        "count": 3,
        "title": "3 posts failed on X: token rejected",
        "text": text,
        "link": "https://clarion.example/console/alerts/7",
        "first_at": AT,
        "last_at": AT,
        "created_at": AT,
        "examples": ("“Vote” on X @union",),
    }
    values.update(changes)
    return AlertMessage(**values)  # type: ignore[arg-type]


def payload(fmt: WebhookFormat, msg: AlertMessage | None = None) -> dict[str, object]:
    request = build("https://hooks.example/x", fmt, "", msg or message(), timestamp=NOW, send_id=1)
    return json.loads(request.body)  # type: ignore[no-any-return]


def test_the_clarion_payload_carries_everything_documented():
    body = payload(WebhookFormat.CLARION)
    assert body == {
        "version": 1,
        "id": 7,
        "kind": "delivery_failed",
        "test": False,
        "campaign": {"slug": "demo", "title": "Fujitsu strike"},
        "count": 3,
        "title": "3 posts failed on X: token rejected",
        "text": "3 posts failed on X: token rejected",
        "examples": ["“Vote” on X @union"],
        "link": "https://clarion.example/console/alerts/7",
        "first_at": "2026-12-07T18:00:00+00:00",
        "last_at": "2026-12-07T18:00:00+00:00",
        "created_at": "2026-12-07T18:00:00+00:00",
    }


def test_slack_gets_text_with_its_control_characters_escaped_and_a_link():
    body = payload(WebhookFormat.SLACK, message("<!channel> & you"))
    assert body == {
        "text": "&lt;!channel&gt; &amp; you\n"
        "<https://clarion.example/console/alerts/7|Open in the Clarion console>"
    }


def test_discord_gets_content_without_mentions_cut_to_its_limit():
    body = payload(WebhookFormat.DISCORD, message("@everyone " + "x" * 3000))
    assert set(body) == {"content", "allowed_mentions"}
    assert body["allowed_mentions"] == {"parse": []}
    content = str(body["content"])
    assert len(content) == 2000
    assert content.endswith("…\nhttps://clarion.example/console/alerts/7")


def test_matrix_gets_a_text_fallback_and_escaped_html():
    body = payload(WebhookFormat.MATRIX, message("<b>1</b> failed\nsecond line"))
    assert body["text"] == "<b>1</b> failed\nsecond line\nhttps://clarion.example/console/alerts/7"
    assert body["html"] == (
        "&lt;b&gt;1&lt;/b&gt; failed<br>second line"
        '<br><a href="https://clarion.example/console/alerts/7">Open in the Clarion console</a>'
    )


def test_a_signature_covers_the_timestamp_and_the_body():
    request = build(
        "https://hooks.example/x",
        WebhookFormat.CLARION,
        "a-signing-secret-16",
        message(),
        timestamp=NOW,
        send_id=1,
    )
    signature = request.headers[SIGNATURE_HEADER]
    assert signature == sign("a-signing-secret-16", NOW, request.body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert request.headers[TIMESTAMP_HEADER] == str(NOW)
    assert verify("a-signing-secret-16", str(NOW), request.body, signature, now=NOW + 10)
    # the same signature with another timestamp, another body or too late: refused
    assert not verify("a-signing-secret-16", str(NOW + 60), request.body, signature, now=NOW + 60)
    assert not verify("a-signing-secret-16", str(NOW), request.body + b" ", signature, now=NOW)
    assert not verify("a-signing-secret-16", str(NOW), request.body, signature, now=NOW + 301)


def test_an_unsigned_format_has_no_signature_header():
    request = build(
        "https://hooks.example/x", WebhookFormat.SLACK, "", message(), timestamp=NOW, send_id=1
    )
    assert SIGNATURE_HEADER not in request.headers


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, None),
        (204, None),
        (429, "retry"),
        (503, "retry"),
        (408, "retry"),
        (404, "give up"),
        (401, "give up"),
        (302, "give up"),
        (418, "give up"),
    ],
)
def test_each_answer_is_classified_once(status, outcome):
    problem = classify(status)
    if outcome is None:
        assert problem is None
    else:
        assert problem is not None and problem.permanent is (outcome == "give up")


@pytest.fixture
def campaign(sessions):
    with sessions() as session:
        session.add(Campaign(slug="demo", title="Fujitsu strike", timezone="Europe/London"))
        session.commit()
    return "demo"


def update(sessions, vault, **values):  # type: ignore[no-untyped-def]
    with sessions() as session:
        found = session.query(Campaign).filter_by(slug="demo").one()
        view = channel_settings.update(session, vault, found, actor="test", **values)
        session.commit()
        return view


def test_a_clarion_webhook_without_a_secret_is_refused_naming_the_field(sessions, vault, campaign):
    with pytest.raises(ChannelSettingsError) as caught:
        update(sessions, vault, webhook_url="https://hooks.example/x")
    assert caught.value.field == "webhook_secret"


def test_a_chat_webhook_needs_no_secret_and_only_its_host_is_shown(sessions, vault, campaign):
    view = update(
        sessions,
        vault,
        webhook_url="https://hooks.slack.com/services/T0/B0/SECRETPATH",
        webhook_format=WebhookFormat.SLACK,
    )
    assert view.webhook_host == "hooks.slack.com" and view.has_webhook and not view.has_secret
    assert "SECRETPATH" not in json.dumps(view.as_dict())
    with sessions() as session:
        assert "SECRETPATH" not in session.scalars(select(AlertChannels)).one().webhook_url


def test_a_bad_address_is_named():
    with pytest.raises(ChannelSettingsError) as caught:
        channel_settings.parse_emails(["organiser@example.org, not-an-address"])
    assert caught.value.field == "emails"
    assert caught.value.message == (
        "'not-an-address' is not an email address (write it as name@example.org)"
    )


@pytest.mark.parametrize(
    ("field", "values", "said"),
    [
        ("webhook_url", {"webhook_url": "ftp://hooks.example/x"}, "http:// or https://"),
        ("webhook_secret", {"webhook_secret": "short"}, "at least 16 characters"),
    ],
)
def test_bad_webhook_settings_name_their_field(sessions, vault, campaign, field, values, said):
    with pytest.raises(ChannelSettingsError) as caught:
        update(sessions, vault, webhook_format=WebhookFormat.MATRIX, **values)
    assert caught.value.field == field and said in caught.value.message


def test_events_are_parsed_by_name_and_an_unknown_one_is_named():
    assert channel_settings.parse_events(["delivery-failed,release_finished"]) == (
        AlertKind.DELIVERY_FAILED,
        AlertKind.RELEASE_FINISHED,
    )
    with pytest.raises(ChannelSettingsError) as caught:
        channel_settings.parse_events(["failures"])
    assert "unknown alert event 'failures'" in caught.value.message


def test_the_verification_snippet_in_the_docs_accepts_a_real_request_and_refuses_a_forgery():
    docs = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", docs, flags=re.S)
    assert snippet, "docs/alerts.md has no Python snippet"
    scope: dict[str, object] = {}
    exec(snippet.group(1), scope)  # noqa: S102 - our own documentation
    docs_verify = scope["verify"]
    request = build(
        "https://hooks.example/x",
        WebhookFormat.CLARION,
        "a-signing-secret-16",
        message(),
        timestamp=int(time.time()),
        send_id=1,
    )
    assert docs_verify("a-signing-secret-16", request.headers, request.body)  # type: ignore[operator]
    assert not docs_verify("a-signing-secret-16", request.headers, request.body + b"x")  # type: ignore[operator]
