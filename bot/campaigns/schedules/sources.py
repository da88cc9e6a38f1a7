"""Schedules as text, before they are read: from files on disk, uploads or pasted text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.safe_files import FileRefused, read_regular
from bot.utf8 import escaped, not_utf8

# A schedule file on disk: 20,000 posts take about 3 MB. Far larger is a mistake (or a
# file that is not a schedule) and would tie the command up parsing it.
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class ScheduleSource:
    """One schedule as text: a file read from disk, an upload or text pasted in the console.

    ``name`` is what problems call it (the path as given, or the uploaded file's name);
    ``unreadable`` says why a file could not be read (reported as its problem); ``folder``
    is where relative paths in it start (default: the folder of ``name``).
    """

    name: str
    text: str = ""
    unreadable: str | None = None
    folder: Path | None = None


def read_files(paths: Sequence[Path]) -> list[ScheduleSource]:
    """Each path's text; a file that cannot be read carries the reason instead (so is one
    that is not a regular file, or is larger than MAX_FILE_BYTES)."""
    sources = []
    for path in paths:
        why = not_utf8(path.name) or not_utf8(str(path))
        if why is not None:  # the name would reach the database, and no query can hold it
            reason = f"has a name that is not UTF-8 text ({why}); rename the file"
            sources.append(ScheduleSource(escaped(str(path)), unreadable=reason))
            continue
        try:
            text = read_regular(path, MAX_FILE_BYTES).decode("utf-8")
            # As Python's text mode reads it: CRLF and CR line ends become LF.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            sources.append(ScheduleSource(str(path), text))
        except UnicodeDecodeError as error:
            reason = f"is not UTF-8 text ({error.reason}); save it as UTF-8"
            sources.append(ScheduleSource(str(path), unreadable=reason))
        except FileRefused as refused:
            sources.append(ScheduleSource(str(path), unreadable=str(refused)))
    return sources
