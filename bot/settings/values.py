"""The pieces settings are made of: the error, ``Secret``, and one parser per kind of value.

Each parser takes the raw text of a variable and returns its value or raises ValueError
with what is expected; bot/settings/table.py pairs them with names, defaults and help.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.email_address import EmailAddressError, refuse_several

N = TypeVar("N", int, float)


class ConfigError(Exception):
    """A setting has a bad value; the message names the variable and what is expected."""


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        if not self._value:
            return "(not set)"
        return (
            f"set, {len(self._value)} characters, ending …{self._value[-2:]}"
            if len(self._value) >= 12
            else "set"
        )

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def parse_text(raw: str) -> str:
    return raw.strip()


def without_password(raw: str) -> str:
    """A URL as safe to print: any password replaced by ***."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", raw)


def parse_database_url(raw: str) -> str:
    """SQLite or PostgreSQL, in any usual spelling; ``postgres://`` (as many hosts give
    it) becomes SQLAlchemy's ``postgresql+psycopg://``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    value = raw.strip()
    if value.startswith("postgres://"):
        value = "postgresql+psycopg://" + value[len("postgres://") :]
    elif value.startswith("postgresql://"):
        value = "postgresql+psycopg://" + value[len("postgresql://") :]
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(
            "a database URL: sqlite:///clarion.db or postgresql+psycopg://user:pass@host/db"
        )
    return value


# The largest number any setting takes: above every sensible value (a million seconds is
# 11 days, a million hours 114 years), and small enough that adding it to today as a
# duration never leaves the calendar.
MAX_NUMBER = 1_000_000


def _between(kind: Callable[[str], N], low: N, high: N, noun: str) -> Callable[[str], N]:
    """A parser for a finite number of ``kind`` (int or float) from ``low`` to ``high``."""
    expected = f"{noun} from {low} to {high:,}"

    def parse(raw: str) -> N:
        text = raw.strip()
        if len(text) > 40:  # no setting needs more digits; int() of 5,000 digits refuses
            raise ValueError(expected)
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(expected) from None
        # float("nan") compares false with everything, so it would pass a range check.
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(expected)
        return value

    return parse


def parse_int_at_least(low: int, high: int = MAX_NUMBER) -> Callable[[str], int]:
    return _between(int, low, high, "a whole number")


def parse_float_at_least(low: float, high: float = MAX_NUMBER) -> Callable[[str], float]:
    return _between(float, low, high, "a number")


def parse_port(raw: str) -> int:
    """A TCP port: 1 to 65535."""
    return _between(int, 1, 65535, "a port number")(raw)


def parse_timezone(raw: str) -> str:
    name = raw.strip()
    try:
        if len(name) > 64:  # longer than any zone name (and than a file name may be)
            raise ValueError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("an IANA time zone name such as Europe/London") from None
    return name


def parse_choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError("one of: " + ", ".join(options))
        return value

    return parse


def parse_yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    raise ValueError("true or false")


def parse_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("a URL starting with http:// or https:// (or empty)")
    return value


def parse_graph_version(raw: str) -> str:
    value = raw.strip()
    digits = value[1:] if value.startswith("v") else value
    major, _, minor = digits.partition(".")
    minor = minor or "0"
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError("a Graph API version such as v25.0")
    return f"v{int(major)}.{int(minor)}"


_UNITS = {"m": 60, "h": 3600, "d": 86400}
MAX_OFFSET_SECONDS = 400 * 86400


class Offsets(tuple[tuple[str, int], ...]):
    """(label, seconds) pairs that print as they were written: 1h,24h,7d,29d."""

    def __str__(self) -> str:
        return ",".join(label for label, _ in self)


def parse_offsets(raw: str) -> Offsets:
    """ "1h,24h,7d,29d" -> (("1h", 3600), ...): ascending, each a number and m, h or d."""
    expected = "offsets such as 1h,24h,7d,29d (numbers with m, h or d, ascending)"
    out: list[tuple[str, int]] = []
    for part in raw.replace(" ", "").split(","):
        number, unit = part[:-1], part[-1:].lower()
        if not number.isdigit() or len(number) > 6 or unit not in _UNITS or int(number) == 0:
            raise ValueError(expected)
        seconds = int(number) * _UNITS[unit]
        if seconds > MAX_OFFSET_SECONDS:
            raise ValueError(expected + ", at most 400d")
        if out and seconds <= out[-1][1]:
            raise ValueError(expected)
        out.append((part, seconds))
    return Offsets(out)


# Host name labels: letters, digits, inner hyphens, at most 63 each; underscores too, as
# /etc/hosts aliases and Docker Compose service names have them (RFC 1123 does not).
HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def is_host(value: str) -> bool:
    """True for an IP address (IPv6 with or without brackets) or a host name (an
    internationalised one as its IDNA form)."""
    try:
        ipaddress.ip_address(value.removeprefix("[").removesuffix("]"))
        return True
    except ValueError:
        pass
    try:
        ascii_name = value.removesuffix(".").encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_name.split(".")
    return (
        len(ascii_name) <= 253
        and all(HOST_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()  # 999.1.1.1 is a bad address, not a name
    )


def parse_host(raw: str) -> str:
    """Empty, an IP address or a host name. To listen on: 0.0.0.0 or empty is every IPv4
    interface, :: every interface on IPv6 too; for SMTP_HOST empty means no email."""
    value = raw.strip()
    if value and not is_host(value):
        raise ValueError(
            "an IP address such as 127.0.0.1 (0.0.0.0 or :: for every interface) or a host name"
        )
    return value


def parse_sender(raw: str) -> str:
    """One sender for the From header: ``clarion@union.example`` or ``Union
    <clarion@union.example>``; never a list, never a line break (a header injection)."""
    value = raw.strip()
    expected = (
        "one address, e.g. clarion@union.example or Union <clarion@union.example> (a name "
        'with commas, brackets or dots goes in double quotes: "Unite, Region 5" <…>)'
    )
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(expected)
    found = getaddresses([value])
    if len(found) != 1:
        raise ValueError(expected)
    address = found[0][1]
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in address):
        raise ValueError(expected)
    try:
        refuse_several(address)
    except EmailAddressError as exc:
        raise ValueError(f"{expected}: {exc}") from None
    return value


def split_bind(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → (host, port); ValueError when it is not one."""
    host, colon, port = value.rpartition(":")
    if (
        not colon
        or not is_host(host)
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
    ):
        raise ValueError("empty, or HOST:PORT such as 127.0.0.1:9464 or [::1]:9464")
    return host.removeprefix("[").removesuffix("]"), int(port)


def parse_bind(raw: str) -> str:
    """Empty, or an address to listen on as ``HOST:PORT`` (IPv4 or a host name)."""
    value = raw.strip()
    if value:
        split_bind(value)
    return value


def parse_secret(raw: str) -> Secret:
    return Secret(raw.strip())


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One row of the settings table (bot/settings/table.py)."""

    name: str
    default: str
    parse: Callable[[str], Any]
    help: str
    section: str

    @property
    def secret(self) -> bool:
        """Never shown (in errors, `config show`, the example file): parsed as a Secret."""
        return self.parse is parse_secret
