"""Cells for CSV files people open in a spreadsheet.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return, which some strip before looking) as a formula: OWASP's "CSV injection".
Every CSV Clarion writes passes its text cells through ``safe_cell``, which prefixes
such a cell with ``'`` so the spreadsheet shows it as text.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
