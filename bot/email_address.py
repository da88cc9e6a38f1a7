"""One email address, checked by a maintained validator (email-validator).

Clarion mails what a person typed into an email field: a supporter's reminder address, a
console user's invitation. The field must hold exactly one mailbox, or one pledge can make
the union's mail server write to strangers: ``a@x.org, b@y.org`` is two recipients to
``smtplib``'s ``send_message`` (it reads the To header with ``getaddresses``), and
``someone%stranger.org@relay.org`` is the "percent hack" (RFC 1123 §5.2.16 leaves relays
free to route it). email-validator parses by RFC 5322's dot-atom rules (no commas, no
quoted local parts, no bracketed IP domains); on top of it this refuses the characters
that route mail elsewhere (``%``, ``!``) and any look-alike of ``@``.

No DNS lookup: ``check_deliverability=False`` keeps a page answer from waiting on the
network and keeps tests offline.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

# RFC 5321 §4.5.3.1.3 caps a path at 256 octets, so an address is at most 254 characters.
MAX_LENGTH = 254
# "%" (RFC 1123 §5.2.16, source routing) and "!" (UUCP bang paths) make some relays
# forward to another host.
ROUTING_CHARACTERS = ("%", "!")


class EmailAddressError(ValueError):
    """The text is not exactly one email address; the message says why, to the person."""


def refuse_several(text: str) -> None:
    """EmailAddressError unless ``text`` can name at most one mailbox: no list separators,
    one ``@`` and no look-alike of it, no routing characters before it. For fields that
    take addresses a public validator would refuse (a console user ``admin@localhost``)."""
    if len(text) > MAX_LENGTH:
        raise EmailAddressError(f"it is longer than {MAX_LENGTH} characters")
    if any(sep in text for sep in (",", ";")) or text.count("@") > 1:
        raise EmailAddressError("it holds more than one address; type just one")
    # Full-width "＠" and the small "﹫" read as "@" and normalise to it (NFKC).
    if unicodedata.normalize("NFKC", text).count("@") != text.count("@"):
        raise EmailAddressError("it contains a look-alike of @; type a plain @")
    if any(c in text.rpartition("@")[0] for c in ROUTING_CHARACTERS):
        raise EmailAddressError(
            "it contains % or !, which route mail to another address; type the address itself"
        )


def one_address(text: str) -> str:
    """``text`` as one normalised address (domain in lower case), or EmailAddressError
    naming what is wrong."""
    address = text.strip()
    refuse_several(address)
    try:
        valid = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise EmailAddressError(str(exc).rstrip(".")) from None
    return valid.normalized
