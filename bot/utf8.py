"""Text from the operating system that is not UTF-8.

Command-line arguments, environment variables and file names are bytes; Python decodes
them as UTF-8 and keeps each byte that is not as a lone surrogate, U+DC80 to U+DCFF (PEP
383, "surrogateescape"). Such a string cannot be encoded again (written to a database,
a log, a page or a network), so it is refused where it comes in, saying which byte.
"""

from __future__ import annotations

import re

from bot.runtime.logs import escape_controls

_SURROGATE = re.compile("[\ud800-\udfff]")
# The surrogates PEP 383 makes of the bytes 0x80 to 0xFF that are not UTF-8.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def not_utf8(text: str) -> str | None:
    """Why ``text`` is not valid UTF-8 text, for a volunteer, or None when it is."""
    found = _SURROGATE.search(text)
    if found is None:
        return None
    code = ord(found.group())
    what = (
        f"the byte 0x{code - 0xDC00:02X}"
        if code in _ESCAPED_BYTES
        else f"U+{code:04X} (an unpaired surrogate)"
    )
    return f"{what} at character {found.start() + 1} is not UTF-8"


def shown(text: str, limit: int = 60) -> str:
    """``text`` quoted on one line so it can be printed: each byte that was not UTF-8 as
    ``\\xNN`` (another lone surrogate as ``\\uNNNN``), control characters escaped too,
    cut to ``limit`` characters."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"'{escape_controls(escaped(cut))}'"


def escaped(text: str) -> str:
    """``text`` with each byte that was not UTF-8 as ``\\xNN`` (another lone surrogate as
    ``\\uNNNN``): a name that can be printed, stored and logged."""
    return _SURROGATE.sub(lambda m: _escape(ord(m.group())), text)


def _escape(code: int) -> str:
    return f"\\x{code - 0xDC00:02x}" if code in _ESCAPED_BYTES else f"\\u{code:04x}"
