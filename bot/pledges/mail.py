"""Supporters' email through the configured SMTP server (smtplib; SMTP_* settings).

Two messages are ever sent, only to the address a supporter left on their own pledge: a
reconnect request when a pledged token stops working, and the pledge's private link when
they ask for it on their confirmation page. Addresses are never logged.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from bot.platforms import PLATFORM_LABELS
from bot.settings import Settings

logger = logging.getLogger(__name__)


class MailError(Exception):
    """The mail server refused or could not be reached. The message (``summary``) names
    the server, the error's kind and the SMTP code, never the server's reply text: a
    refusal quotes the recipient's address (RFC 5321 §4.2), a supporter's email."""

    def __init__(self, summary: str) -> None:
        super().__init__(summary)
        self.summary = summary


def _smtp_code(exc: BaseException) -> int | None:
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return int(codes[0]) if codes else None
    return None


class Mailer:
    def __init__(self, settings: Settings, *, timeout: float = 10.0) -> None:
        self.settings = settings
        self.timeout = timeout

    @property
    def enabled(self) -> bool:
        return bool(self.settings.smtp_host)

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        if not self.enabled:
            raise MailError("SMTP_HOST is not set, so no email can be sent")
        message = EmailMessage()
        try:
            message["From"] = s.mail_from
            message["To"] = to
            message["Subject"] = subject
        except ValueError as exc:  # a line break in a header: refused, never sent
            raise MailError(f"the message could not be written: {type(exc).__name__}") from None
        message.set_content(body)
        try:
            with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout) as smtp:
                if s.smtp_starttls == "on":
                    smtp.starttls()
                if s.smtp_username:
                    smtp.login(s.smtp_username, s.smtp_password.reveal())
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            code = _smtp_code(exc)
            raise MailError(
                f"the mail server at {s.smtp_host}:{s.smtp_port}: {type(exc).__name__}"
                + (f" (SMTP {code})" if code is not None else "")
            ) from None


def account_words(platform: str, handle: str) -> str:
    """How a mail names the pledged account: an X or Mastodon account by its @handle, a
    Facebook Page by its name."""
    if platform == "facebook":
        return f"Facebook Page “{handle}”"
    return f"{PLATFORM_LABELS.get(platform, platform)} account @{handle}"


def reconnect_message(title: str, handle: str, platform: str, link: str) -> tuple[str, str]:
    """(subject, body) asking a supporter to reconnect a pledged account."""
    where = PLATFORM_LABELS.get(platform, platform)
    # A header cannot hold a line break (email.message refuses it), and a title written as
    # a YAML block or on several lines may have one: the subject gets it on one line.
    one_line = " ".join(title.split())
    # An X account has an @handle; a Facebook Page is known by its name.
    account = account_words(platform, handle)
    subject = f"Please reconnect your {where} account for “{one_line}”"
    body = (
        f"You pledged your {account} to “{one_line}”.\n\n"
        f"{where} no longer accepts the permission you gave, so nothing can be posted from "
        "it at the release. To keep your pledge, open the campaign page and support it "
        f"again with the same account:\n\n  {link}\n\n"
        "If you meant to withdraw, there is nothing to do: nothing will be posted.\n"
    )
    return subject, body


def private_link_message(title: str, handle: str, platform: str, link: str) -> tuple[str, str]:
    """(subject, body) carrying a pledge's private link, sent when its supporter asks."""
    one_line = " ".join(title.split())
    account = account_words(platform, handle)
    subject = f"Your private link for “{one_line}”"
    body = (
        f"You pledged your {account} to “{one_line}” and asked for its private link:\n\n"
        f"  {link}\n\n"
        "Keep it: it is the only way to see what will be posted, change the wording or "
        "withdraw, and anyone with it can. Do not forward this email.\n\n"
        "If you did not ask for this, someone typed your address on a pledge's page; "
        "nothing more will be sent unless it is asked for again.\n"
    )
    return subject, body
