"""Alerts by webhook: a JSON POST, signed with HMAC-SHA256, in one of four formats.

Building the request is pure (``build``); ``post`` only moves the bytes, once.

Signature (docs/alerts.md): ``X-Clarion-Signature: sha256=<hex>`` where hex is
HMAC-SHA256(secret, "<X-Clarion-Timestamp>." + raw body). The timestamp is inside the
signed string, so a captured request cannot be replayed later with a fresh timestamp;
receivers reject timestamps more than five minutes from their clock.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from dataclasses import dataclass
from typing import Any

import requests

from bot.alerts.channels.base import AlertMessage, TransportError
from bot.alerts.events import WebhookFormat

SIGNATURE_HEADER = "X-Clarion-Signature"
TIMESTAMP_HEADER = "X-Clarion-Timestamp"
TOLERANCE_SECONDS = 300
PAYLOAD_VERSION = 1
# Discord refuses a message whose content is over 2000 characters
# (https://discord.com/developers/docs/resources/webhook#execute-webhook).
DISCORD_MAX = 2000


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, now: float) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        moment = int(timestamp)
    except ValueError:
        return False
    if abs(now - moment) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret, moment, body), signature)


def clarion_payload(message: AlertMessage) -> dict[str, Any]:
    campaign = (
        {"slug": message.campaign_slug, "title": message.campaign_title}
        if message.campaign_slug
        else None
    )
    return {
        "version": PAYLOAD_VERSION,
        "id": message.id,
        "kind": message.kind,
        "test": message.test,
        "campaign": campaign,
        "count": message.count,
        "title": message.title,
        "text": message.text,
        "examples": list(message.examples),
        "link": message.link,
        "first_at": message.first_at.isoformat(),
        "last_at": message.last_at.isoformat(),
        "created_at": message.created_at.isoformat(),
    }


def slack_escape(text: str) -> str:
    # Slack reads <, > and & as control characters in message text; these three, and
    # only these, are escaped (https://api.slack.com/reference/surfaces/formatting#escaping).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: AlertMessage) -> dict[str, Any]:
    # An incoming webhook takes {"text": ...} (https://api.slack.com/messaging/webhooks);
    # <url|label> is Slack's link syntax.
    text = slack_escape(message.text)
    if message.link:
        text += f"\n<{message.link}|Open in the Clarion console>"
    return {"text": text}


def discord_payload(message: AlertMessage) -> dict[str, Any]:
    # Execute Webhook takes {"content": ...}; allowed_mentions with an empty parse list
    # stops an "@everyone" in a post's text from pinging the whole server.
    tail = f"\n{message.link}" if message.link else ""
    room = DISCORD_MAX - len(tail)
    text = message.text if len(message.text) <= room else message.text[: room - 1] + "…"
    return {"content": text + tail, "allowed_mentions": {"parse": []}}


def matrix_payload(message: AlertMessage) -> dict[str, Any]:
    # matrix-hookshot's generic webhooks: "text" becomes the message body, "html" its
    # formatted_body (a text fallback must still be given); with "html" present the text
    # is not read as Markdown, so a post's own * or _ stay as written
    # (https://matrix-org.github.io/matrix-hookshot/latest/setup/webhooks.html).
    text = message.text + (f"\n{message.link}" if message.link else "")
    body = "<br>".join(html.escape(line) for line in message.text.splitlines())
    if message.link:
        link = html.escape(message.link, quote=True)
        body += f'<br><a href="{link}">Open in the Clarion console</a>'
    return {"text": text, "html": body}


PAYLOADS = {
    WebhookFormat.CLARION: clarion_payload,
    WebhookFormat.SLACK: slack_payload,
    WebhookFormat.DISCORD: discord_payload,
    WebhookFormat.MATRIX: matrix_payload,
}


def build(
    url: str,
    fmt: WebhookFormat,
    secret: str,
    message: AlertMessage,
    *,
    timestamp: int,
    send_id: int,
) -> WebhookRequest:
    body = json.dumps(PAYLOADS[fmt](message), ensure_ascii=False, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "Clarion-Alerts/1",
        "X-Clarion-Event": message.kind,
        # The same alert retried keeps its delivery id: a receiver can drop a repeat.
        "X-Clarion-Delivery": str(send_id),
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return WebhookRequest(url=url, headers=headers, body=body)


def classify(status: int) -> TransportError | None:
    """None for success; otherwise whether trying again can help."""
    if 200 <= status < 300:
        return None
    if status in (408, 425, 429) or status >= 500:
        return TransportError(f"the webhook answered HTTP {status}")
    if 300 <= status < 400:
        return TransportError(
            f"the webhook answered with a redirect (HTTP {status}); set its final URL",
            permanent=True,
        )
    return TransportError(
        f"the webhook refused the alert (HTTP {status}); check its URL and format",
        permanent=True,
    )


def post(request: WebhookRequest, host: str, *, timeout: float) -> None:
    """One attempt. Errors name the host only: the URL's path may be its secret."""
    try:
        answer = requests.post(
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=timeout,
            allow_redirects=False,
        )
        answer.close()
    except requests.Timeout:
        raise TransportError(f"{host} did not answer within {timeout:g} s") from None
    except requests.ConnectionError:
        raise TransportError(f"could not connect to {host}") from None
    except requests.RequestException as exc:
        raise TransportError(f"the request to {host} failed: {type(exc).__name__}") from None
    problem = classify(answer.status_code)
    if problem is not None:
        raise problem
