"""Plain descriptions of what a volunteer asked for, before anything is stored.

Schedule files (``bot.campaigns.schedules.files``) and the CLI both produce these;
``bot.campaigns.enqueue`` validates them against the database (accounts, existing posts) and
stores them all-or-nothing. Keeping them plain dataclasses keeps parsing free of the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.platforms import PLATFORM_NAMES

# Every platform in the registry (bot/platforms/__init__.py), in its order.
PLATFORMS = PLATFORM_NAMES


@dataclass(frozen=True)
class Location:
    """Where a value came from, so an error can point at it."""

    file: str  # path as the volunteer wrote it, or "<command line>"
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class PostSpec:
    """One post to queue: the same message to one or more targets at one time.

    ``parts`` maps a platform name to the list of texts to post there: one item for a
    single post, several for an X thread (each a reply to the last). Facebook gets one
    item (a thread is joined into one post by the parser).
    ``targets`` are what the volunteer wrote in ``to:``: a platform name (the
    campaign's own account there) or ``platform:handle`` for a named account.
    ``scheduled_at`` is timezone-aware; ``timezone`` is the IANA name it was written in.
    """

    campaign: str
    key: str  # the post's id within its campaign, stable across re-applies
    scheduled_at: datetime
    timezone: str
    targets: tuple[str, ...]
    parts: dict[str, tuple[str, ...]]
    link: str | None = None
    hold_on_facebook: bool = False  # ask Facebook itself to publish at the time
    source: Location = field(default_factory=lambda: Location("<command line>"))
    event: str | None = None  # the event key, for reminders expanded from an event
    kind: str = "post"  # post | reminder | thread
    # Not due until someone other than its author approves it (bot.campaigns.approvals).
    requires_approval: bool = False
    # Its text is shown only to its author and approvers until it goes out
    # (bot.campaigns.embargo).
    embargoed: bool = False
    # The line of each field as written (``to``, ``at``, ``text``…), so that problems
    # found later, against the database, still point at the right line.
    lines: Mapping[str, int] = field(default_factory=dict)

    def where(self, field_name: str) -> Location:
        line = self.lines.get(field_name)
        return Location(self.source.file, line) if line is not None else self.source


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: names the place, the field, the value and the fix."""

    where: Location
    field: str
    value: str
    message: str
    # The platform a text problem is about ("x", "facebook"), so a form can show it beside
    # that platform's own field; None when the problem is not about one platform's text.
    platform: str | None = None

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"{self.where}: {self.field}={shown!r}: {self.message}"


class SpecError(Exception):
    """Input was refused; nothing was stored. Carries every problem found, not just one."""

    # A file of 49,000 copies of one bad post has 49,000 problems: the first hundred say
    # what to fix, the rest would only scroll them away.
    SHOWN = 100

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        lines = [f"  {p}" for p in problems[: self.SHOWN]]
        if len(problems) > self.SHOWN:
            lines.append(f"  … and {len(problems) - self.SHOWN:,} more (fix these and check again)")
        body = "\n".join(lines)
        super().__init__(f"{len(problems):,} {noun} found; nothing was changed:\n{body}")
