"""How commands show things: tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from tabulate import tabulate


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, empty: str) -> None:
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    click.echo(tabulate(rows, headers=list(headers), tablefmt="simple", disable_numparse=True))


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot show {type(value).__name__} as JSON")


def local(moment: datetime | None, tz: str) -> str:
    """A UTC moment as the volunteer's local time, e.g. '2026-12-07 18:00 GMT'."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def account_label(platform: str, handle: str) -> str:
    """How an account is named to people: @handle on X, the Page's name on Facebook."""
    return f"@{handle.lstrip('@')}" if platform == "x" else handle


def clip(text: str, width: int = 50) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
