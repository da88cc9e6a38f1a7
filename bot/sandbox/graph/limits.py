"""Graph rate limits for the sandbox: per app, per user, per Page, and a posting cap.

Graph throttles in several layers (https://developers.facebook.com/docs/graph-api/overview/rate-limiting):
the app (code 4, usage in ``X-App-Usage``), a user's calls (code 17), a Page's calls made
with its Page token (code 32, usage in ``X-Business-Use-Case-Usage``), and narrower
per-endpoint caps (code 613). The real limits are computed from audience size and hide
their exact numbers; here each is a plain count per fixed window, configurable, with
generous defaults so rehearsals never trip them by accident:

======================  ===========  =====  ==========================================
limit                   default      code   counted on
======================  ===========  =====  ==========================================
app_calls               200,000/h    4      every authenticated Graph call
user_calls              4,800/h      17     calls made with a user token
page_calls              4,800/h      32     calls made with a Page token
page_posts              1,000/h      613    POST /{page-id}/feed per Page
======================  ===========  =====  ==========================================

Windows run on wall time (``clock.wall()``), like X's rate-limit resets: throttling
protects the server's real capacity, not the rehearsal's simulated calendar.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from typing import Any

from bot.sandbox.graph import errors as errors

WINDOW_SECONDS = 3600.0


@dataclass
class GraphLimits:
    app_calls: int = 200_000
    user_calls: int = 4_800
    page_calls: int = 4_800
    page_posts: int = 1_000
    window_seconds: float = WINDOW_SECONDS

    @classmethod
    def from_options(cls, options: Any) -> GraphLimits:
        """Read ``fb_<name>`` fields (e.g. ``fb_page_calls``) from SandboxOptions if present."""
        values = {}
        for f in fields(cls):
            value = getattr(options, f"fb_{f.name}", None)
            if value is not None:
                values[f.name] = value
        return cls(**values)

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown Facebook limit(s): {sorted(unknown)}; use {sorted(names)}")
        for name, value in changes.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"limit {name} must be a non-negative number")
            setattr(self, name, type(getattr(self, name))(value))


class Counters:
    """Fixed-window call counters keyed by ("app"|"user"|"page"|"posts", id)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], list[float]] = {}  # key -> [start, count]

    def reset(self) -> None:
        self._windows.clear()

    def _window(self, key: tuple[str, str], now: float, length: float) -> list[float]:
        window = self._windows.get(key)
        if window is None or now - window[0] >= length:
            window = [now, 0.0]
            self._windows[key] = window
        return window

    def hit(self, key: tuple[str, str], limit: int, now: float, length: float) -> bool:
        """Count one call; False when the window's limit was already used up."""
        window = self._window(key, now, length)
        if window[1] >= limit:
            return False
        window[1] += 1
        return True

    def usage(self, key: tuple[str, str], limit: int, now: float, length: float) -> tuple[int, int]:
        """(percent of the limit used, minutes until the window resets when at 100%)."""
        window = self._window(key, now, length)
        percent = 100 if limit <= 0 else min(100, math.floor(window[1] * 100 / limit))
        regain = 0
        if percent >= 100:
            regain = max(1, math.ceil((window[0] + length - now) / 60))
        return percent, regain


def check(
    counters: Counters,
    limits: GraphLimits,
    *,
    app_id: str,
    kind: str,
    subject_id: str | None,
    wall: float,
) -> dict[str, str]:
    """Count one call by a token of ``kind`` and return the usage headers to send.

    Raises the matching GraphError when a limit is used up. ``subject_id`` is the user id
    for user tokens and the Page id for Page tokens.
    """
    length = limits.window_seconds
    if not counters.hit(("app", app_id), limits.app_calls, wall, length):
        raise errors.app_limit()
    headers: dict[str, str] = {}
    if kind == "page" and subject_id:
        key = ("page", subject_id)
        ok = counters.hit(key, limits.page_calls, wall, length)
        percent, regain = counters.usage(key, limits.page_calls, wall, length)
        # https://developers.facebook.com/docs/graph-api/overview/rate-limiting#headers-2
        usage = {
            subject_id: [
                {
                    "type": "pages",
                    "call_count": percent,
                    "total_cputime": percent // 2,
                    "total_time": percent // 2,
                    "estimated_time_to_regain_access": regain,
                }
            ]
        }
        headers["X-Business-Use-Case-Usage"] = json.dumps(usage, separators=(",", ":"))
        if not ok:
            raise _with_headers(errors.page_limit(), headers)
    elif kind == "user" and subject_id:
        key = ("user", subject_id)
        if not counters.hit(key, limits.user_calls, wall, length):
            raise errors.user_limit()
    percent, _ = counters.usage(("app", app_id), limits.app_calls, wall, length)
    headers["X-App-Usage"] = json.dumps(
        {"call_count": percent, "total_cputime": percent // 2, "total_time": percent // 2},
        separators=(",", ":"),
    )
    return headers


def check_post(counters: Counters, limits: GraphLimits, *, page_id: str, wall: float) -> None:
    """Count one feed post on a Page (code 613 past the cap)."""
    if not counters.hit(("posts", page_id), limits.page_posts, wall, limits.window_seconds):
        raise errors.custom_limit()


def _with_headers(error: errors.GraphError, headers: dict[str, str]) -> errors.GraphError:
    error.headers = dict(headers)
    return error
