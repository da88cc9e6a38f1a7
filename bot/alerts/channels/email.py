"""Alerts by email, through the configured SMTP server (bot.pledges.mail.Mailer)."""

from __future__ import annotations

from bot.alerts.channels.base import AlertMessage, TransportError
from bot.pledges.mail import Mailer, MailError


def subject(message: AlertMessage) -> str:
    # A header cannot hold a line break (email.message refuses it).
    return "[Clarion] " + " ".join(message.title.split())


def body(message: AlertMessage) -> str:
    lines = [message.text]
    if message.link:
        lines += ["", f"See it in the console: {message.link}"]
    lines += ["", "You get this because your address is in the campaign's alert settings."]
    return "\n".join(lines) + "\n"


def send(mailer: Mailer, to: tuple[str, ...], message: AlertMessage) -> None:
    """One message to every address (one SMTP transaction)."""
    if not mailer.enabled:
        raise TransportError("SMTP_HOST is not set, so no email can be sent", permanent=True)
    try:
        mailer.send(", ".join(to), subject(message), body(message))
    except MailError as exc:
        raise TransportError(exc.summary) from None
