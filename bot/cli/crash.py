"""The last resort: an error no command expected becomes one line and a file.

Commands turn every error they foresee into a sentence (click.ClickException). Anything
else is a bug; a volunteer should still see one readable line, not forty lines of
traceback, and whoever fixes it needs the whole trace: it goes to a file only its owner
can read (a trace can quote the values a command was working on).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bot.cli.undecodable import refuse_undecodable, refuse_undecodable_values
from bot.runtime.logs import escape_controls

logger = logging.getLogger(__name__)

CRASH_DIR_VARIABLE = "CLARION_CRASH_DIR"
# Errors that are how click itself ends a command, not bugs.
_CLICK_ENDINGS = (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort)


def crash_dir() -> Path:
    """Where traces go: $CLARION_CRASH_DIR, else clarion/ in the system's temp folder."""
    chosen = os.environ.get(CRASH_DIR_VARIABLE)
    return Path(chosen) if chosen else Path(tempfile.gettempdir()) / "clarion"


def record(error: BaseException) -> str:
    """Write ``error``'s full trace to a new file; where it went, or why it could not."""
    trace = "".join(traceback.format_exception(error))
    folder = crash_dir()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp: a new file only its owner can read (0600), never one already there,
        # even for a second error in the same second of the same process.
        fd, name = tempfile.mkstemp(
            suffix=".log", prefix=f"crash-{stamp}-{os.getpid()}-", dir=folder
        )
        path = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as handle:
            handle.write(trace)
    except OSError as problem:
        _log("unexpected error; its trace could not be written in %s: %s", folder, problem)
        return f"the trace could not be written in {folder} ({problem.strerror or problem})"
    _log("unexpected error; full trace in %s", path)
    return f"the full trace is in {path}"


def _log(message: str, *args: object) -> None:
    # Only where logging is set up (the daemon): otherwise Python's last-resort handler
    # would print it as a second line beside the one the volunteer is meant to read.
    if logging.getLogger().handlers:
        logger.error(message, *args)


def one_line(error: BaseException) -> str:
    """What the volunteer sees: the error in one line, and where its trace is."""
    text = escape_controls(str(error)).replace("\\n", " ")
    text = text if len(text) <= 200 else text[:197] + "..."
    where = record(error)
    return (
        f"unexpected error ({type(error).__name__}: {text}); nothing more could be done. "
        f"This is a bug in Clarion: {where}; please send it with a report"
    )


def keep_undecodable_input() -> None:
    """Read standard input as the command line is read: a byte that is not UTF-8 becomes
    a lone surrogate (PEP 383) rather than a UnicodeDecodeError inside a prompt. Python
    does so by itself only in the C locale; the answer is then refused by name like an
    argument (bot/cli/context.py's pass_app)."""
    stdin = sys.stdin
    if isinstance(stdin, io.TextIOWrapper):
        with contextlib.suppress(ValueError, OSError):  # closed, or not reconfigurable
            stdin.reconfigure(errors="surrogateescape")


class GuardedGroup(click.Group):
    """A command group whose commands end in one line, never a traceback; as the top
    group it first refuses any argument that is not UTF-8 text (bot/cli/undecodable.py)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            refuse_undecodable(ctx, args)
        remaining = super().parse_args(ctx, args)
        refuse_undecodable_values(ctx)
        return remaining

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is None:
            keep_undecodable_input()
        try:
            return super().invoke(ctx)
        except _CLICK_ENDINGS:
            raise
        except Exception as error:  # the last resort: see the module's docstring
            raise click.ClickException(one_line(error)) from None
