"""Cells for CSV files people open in a spreadsheet.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return, which some strip before looking) as a formula: OWASP's "CSV injection"
(https://owasp.org/www-community/attacks/CSV_Injection). LibreOffice's import can also
trim leading spaces, and spreadsheets in East Asian locales take the full-width signs
(``＝`` …) as formula signs, so those count too. Every CSV Clarion writes goes through
``writer``, which passes each text cell through ``safe_cell``: such a cell gets a leading
``'`` so the spreadsheet shows it as text.
"""

from __future__ import annotations

import csv
from typing import IO, Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# What an import may strip before it looks at the first character.
_LEADING_BLANKS = " \t\r\n\u00a0\u3000"


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    if value.startswith(FORMULA_STARTS) or value.lstrip(_LEADING_BLANKS).startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose every text cell is ``safe_cell``'d; numbers pass as they are."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: list[Any] | tuple[Any, ...]) -> None:
        self._writer.writerow([safe_cell(c) if isinstance(c, str) else c for c in row])


def writer(out: IO[str]) -> SafeWriter:
    return SafeWriter(out)
