"""Schedules as text, before they are read: from files on disk, uploads or pasted text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


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
    """Each path's text; a file that cannot be read carries the reason instead."""
    sources = []
    for path in paths:
        try:
            sources.append(ScheduleSource(str(path), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError as error:
            reason = f"is not UTF-8 text ({error.reason}); save it as UTF-8"
            sources.append(ScheduleSource(str(path), unreadable=reason))
        except OSError as error:
            reason = f"cannot be read: {error.strerror or error}"
            sources.append(ScheduleSource(str(path), unreadable=reason))
    return sources
