"""How commands show things: tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click
from tabulate import tabulate

# `--limit`, `--top`: how many rows to show. Bounded so the number always fits the
# database's LIMIT (a 20-digit number overflows SQLite's 64-bit integer).
LIMIT = click.IntRange(1, 1_000_000)


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
    """How an account is named to people: @handle on X and Bluesky, the Page's name on
    Facebook."""
    return f"@{handle.lstrip('@')}" if platform in ("x", "bluesky") else handle


def clip(text: str, width: int = 50) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plural(count: int, noun: str, many: str | None = None, *, verb: str | None = None) -> str:
    """``count`` and ``noun`` in the right number: plural(1, "post") is "1 post",
    plural(2, "post") "2 posts", plural(1, "campaign", verb="was") "1 campaign was",
    plural(3, "campaign", verb="was") "3 campaigns were". ``many``: an irregular plural
    ("deliveries"). ``verb``: "was" or "is" (or "has"), agreed with the count."""
    word = noun if count == 1 else (many or noun + "s")
    text = f"{count} {word}"
    if verb is not None:
        text += " " + (verb if count == 1 else _PLURAL_VERBS.get(verb, verb))
    return text


_PLURAL_VERBS = {"was": "were", "is": "are", "has": "have", "needs": "need"}
