"""Fixed-window request counters, reported the way X reports them.

X answers every v2 call with ``x-rate-limit-limit``, ``x-rate-limit-remaining`` and
``x-rate-limit-reset`` (Unix seconds when the window ends); see the recorded responses in
/work/shared/contracts/x/. A window opens at the first request and lasts its length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Window:
    limit: int
    remaining: int
    reset: int  # Unix seconds (wall time)


class RateLimiter:
    def __init__(self) -> None:
        # key -> [window end (wall seconds), count]
        self._windows: dict[tuple[str, str], list[float]] = {}

    def clear(self) -> None:
        self._windows.clear()

    def hit(
        self, bucket: str, key: str, limit: int, window_s: int, now: float | None = None
    ) -> tuple[bool, Window]:
        """Count one request; False when it goes over ``limit`` (it is then not counted)."""
        now = time.time() if now is None else now
        entry = self._windows.get((bucket, key))
        if entry is None or now >= entry[0]:
            entry = [now + window_s, 0]
            self._windows[(bucket, key)] = entry
        if entry[1] >= limit:
            return False, Window(limit, 0, int(entry[0]) + 1)
        entry[1] += 1
        return True, Window(limit, limit - int(entry[1]), int(entry[0]) + 1)

    def peek(
        self, bucket: str, key: str, limit: int, window_s: int, now: float | None = None
    ) -> Window:
        now = time.time() if now is None else now
        entry = self._windows.get((bucket, key))
        if entry is None or now >= entry[0]:
            return Window(limit, limit, int(now + window_s) + 1)
        return Window(limit, max(0, limit - int(entry[1])), int(entry[0]) + 1)

    def refund(self, bucket: str, key: str) -> None:
        """Give back a counted request (the per-app check failed after the per-user one)."""
        entry = self._windows.get((bucket, key))
        if entry is not None and entry[1] > 0:
            entry[1] -= 1
