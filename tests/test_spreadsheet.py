"""CSV cells a spreadsheet shows as text, and every CSV writer going through them."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from bot import spreadsheet

BOT = Path(__file__).resolve().parents[1] / "bot"


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1", "\u3000=1", "\uff1d1", "\uff20x"],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote(cell: str) -> None:
    assert spreadsheet.safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Union Page", "1+1", "a=b", "", "rep@example.org"])
def test_an_ordinary_cell_is_left_alone(cell: str) -> None:
    assert spreadsheet.safe_cell(cell) == cell


def test_the_writer_quotes_text_and_leaves_numbers() -> None:
    out = io.StringIO()
    spreadsheet.writer(out).writerow(["=evil", -3, 2.5, None, "fine"])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == ["'=evil", "-3", "2.5", "", "fine"]


def test_no_module_writes_csv_except_through_the_safe_writer() -> None:
    direct = re.compile(r"\bcsv\.(writer|DictWriter)\(")
    offenders = [
        str(path.relative_to(BOT))
        for path in BOT.rglob("*.py")
        if path.name != "spreadsheet.py" and direct.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
