"""Row ids as people type them: a post's number on the command line or in a form.

Every table's id is an INTEGER: on PostgreSQL a 32-bit one, so 2,147,483,647 is the
largest id any row can have; a larger number is no row's id, and asking the database for
it would overflow (SQLite and psycopg refuse to bind it) instead of finding nothing.
"""

from __future__ import annotations

import re

MAX_ROW_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


def row_id(text: str) -> int | None:
    """The id written in ``text`` (ASCII digits only), or None when no row can have it."""
    if _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None
