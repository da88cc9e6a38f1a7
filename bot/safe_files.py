"""Reading a file a person named, without trusting what is at that path.

A path can name a FIFO, a terminal or a device (``/dev/zero``) that never ends, or a
file far larger than anything Clarion needs. ``read_regular`` opens without blocking,
checks the open file itself (not the path, which can change in between) and reads at
most ``limit`` bytes, so none of these can hang a command or fill its memory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class FileRefused(Exception):
    """The path cannot be read as a file; the message says why, for a volunteer.
    ``size`` is set when the file is too large (its size in bytes)."""

    def __init__(self, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, at most ``limit`` of them.

    FileRefused when it is missing, a folder, not a regular file, larger than ``limit``
    or unreadable.
    """
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait for one forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileRefused("cannot be read: no such file") from None
    except IsADirectoryError:
        raise FileRefused("is a folder, not a file") from None
    except OSError as error:
        raise FileRefused(f"cannot be read: {error.strerror or error}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused("is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused("is not a regular file (a device, pipe or socket); name a file")
        if info.st_size > limit:
            raise FileRefused(too_large(info.st_size, limit), info.st_size)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
    except OSError as error:
        raise FileRefused(f"cannot be read: {error.strerror or error}") from None
    finally:
        os.close(fd)
    if len(data) > limit:  # grew since it was opened
        raise FileRefused(too_large(len(data), limit), len(data))
    return data


def too_large(size: int, limit: int) -> str:
    return f"is {_size(size)}; the most Clarion reads is {_size(limit)}: split it or shrink it"


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / 1024 / 1024:.1f} MB"
    return f"{count / 1024:.0f} KB" if count >= 1024 else f"{count} bytes"
