"""The sandbox's clock: protocol time on the wall, only engagement accelerated."""

from __future__ import annotations

import bisect
import threading
import time
from datetime import UTC, datetime
from typing import Any


class SandboxClock:
    """Three readings of one clock, for three kinds of rule.

    **Protocol time** (``time()``, ``now()``): wall time plus every ``advance``. Whatever a
    client of the real X or Graph API can observe runs on it: posts' ``created_at`` and
    snowflake-like ids, login-code, request-token and access-token lifetimes, ``debug_token``
    expiry, X's duplicate-content window, ``start_time``/``end_time`` and ``since``/``until``
    filters, scheduled posts, Page blocks, the monthly post cap, X's 30-day window for
    non-public metrics. Clients send real times (Clarion reconciles with ``start_time`` =
    now - 5 min; Facebook schedules by ``scheduled_publish_time``) and people sign in at
    human speed (a Facebook login code lives 10 real minutes), so none of this may run fast.

    **Engagement time** (``engagement_age(since)``): how old a post "feels" when its metrics
    are computed, on the timeline page and in X metrics and Graph fields and insights. It
    runs ``acceleration`` times faster than protocol time, so a rehearsal shows a week of
    growth in about 10 real minutes at 1000x. Nothing else uses it.

    **Wall time** (``wall()``): rate-limit windows and 429 storms. Clients sleep in real
    seconds until ``x-rate-limit-reset``, so these ignore ``advance`` as well.

    ``advance(seconds)`` models "time passed": it moves protocol time and engagement time
    by the same ``seconds`` (never multiplied by the acceleration), so after
    ``advance(3600)`` tokens are an hour nearer expiry, an hour of any window has gone by
    and every post has an hour more engagement.

    Engagement time is a function of protocol time, E(p), kept as knots joined by straight
    lines: slope ``acceleration`` while the sandbox runs, 1 across an ``advance`` and
    before the clock started (a post seeded "an hour ago" aged in real time). Posts keep
    only their protocol ``created_at``; their engagement age is E(now) - E(created_at),
    so a post made before a change of rate or an advance still ages correctly. While a
    sandbox with ``--state`` is stopped, E runs on at the rate it had (as Clarion's
    snapshot plan does); a restart with another rate takes over from then on.
    """

    def __init__(self, acceleration: float = 1.0) -> None:
        _check_rate(acceleration)
        self._lock = threading.Lock()
        start = time.time()
        # Replaced whole on every change, so readers in other threads (the admin API and
        # tests call from outside the server's loop) see a consistent (offset, knots, rate).
        self._curve: _Curve = (0.0, (start,), (start,), float(acceleration))

    # --- protocol time ---------------------------------------------------------------

    def time(self) -> float:
        return time.time() + self._curve[0]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @staticmethod
    def wall() -> float:
        return time.time()

    @property
    def advanced(self) -> float:
        """Seconds added by ``advance`` since the sandbox's world began."""
        return self._curve[0]

    # --- engagement time -------------------------------------------------------------

    @property
    def acceleration(self) -> float:
        return self._curve[3]

    def engagement_time(self, at: float | None = None) -> float:
        """E(p): the engagement clock's reading when protocol time was (or is) ``at``."""
        offset, ps, es, rate = self._curve
        p = time.time() + offset if at is None else at
        return _reading(ps, es, rate, p)

    def engagement_age(self, since: float) -> float:
        """Engagement seconds from protocol time ``since`` to now; 0 for the future."""
        offset, ps, es, rate = self._curve
        now = time.time() + offset
        if since >= now:
            return 0.0
        return max(0.0, _reading(ps, es, rate, now) - _reading(ps, es, rate, since))

    # --- changes ---------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Protocol and engagement time both jump ``seconds`` (>= 0: time never runs back)."""
        if not seconds >= 0:
            raise ValueError("advance_seconds must be >= 0: sandbox time never runs backwards")
        if seconds == 0:
            return
        with self._lock:
            offset, ps, es, rate = self._curve
            p = max(time.time() + offset, ps[-1])
            e = _reading(ps, es, rate, p)
            ps, es = _cut(ps, es, p, e)
            self._curve = (offset + seconds, (*ps, p + seconds), (*es, e + seconds), rate)

    def set_acceleration(self, acceleration: float) -> None:
        """From now on engagement runs at the new rate; what it reached is kept."""
        _check_rate(acceleration)
        with self._lock:
            offset, ps, es, rate = self._curve
            p = time.time() + offset
            ps, es = _cut(ps, es, p, _reading(ps, es, rate, p))
            self._curve = (offset, ps, es, float(acceleration))

    # --- persistence -----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        offset, ps, es, rate = self._curve
        knots = [[p, e] for p, e in zip(ps, es, strict=True)]
        return {"advanced": offset, "knots": knots, "rate": rate}

    def restore(self, data: dict[str, Any]) -> None:
        """Take a saved clock back: its advances and engagement curve; then this clock's rate."""
        knots = sorted((float(p), float(e)) for p, e in data.get("knots") or [])
        if not knots:
            return
        saved_rate = float(data.get("rate") or 1.0)
        _check_rate(saved_rate)
        with self._lock:
            rate = self._curve[3]
            offset = max(float(data.get("advanced") or 0.0), 0.0)
            ps = tuple(p for p, _ in knots)
            es = tuple(e for _, e in knots)
            p = time.time() + offset
            if p < ps[-1]:
                # The wall clock went back (another machine, a changed clock): resume from
                # the saved time so that ids and created_at keep increasing.
                offset += ps[-1] - p
                p = ps[-1]
            ps, es = _cut(ps, es, p, _reading(ps, es, saved_rate, p))
            self._curve = (offset, ps, es, rate)

    def resume_from(self, saved: float) -> None:
        """A snapshot from before the clock split kept one accelerated "sandbox time":
        its posts may carry times ahead of the wall, so protocol time jumps to it."""
        ahead = saved - self.time()
        if ahead > 0:
            self.advance(ahead)


_Curve = tuple[float, tuple[float, ...], tuple[float, ...], float]


def _check_rate(acceleration: float) -> None:
    if not acceleration > 0:
        raise ValueError("acceleration must be > 0")


def _reading(ps: tuple[float, ...], es: tuple[float, ...], rate: float, p: float) -> float:
    """E(p) on the knots: slope 1 before the first, ``rate`` after the last."""
    if p >= ps[-1]:
        return es[-1] + (p - ps[-1]) * rate
    if p <= ps[0]:
        return es[0] - (ps[0] - p)
    i = bisect.bisect_right(ps, p)  # ps[i - 1] <= p < ps[i]
    p0, p1, e0, e1 = ps[i - 1], ps[i], es[i - 1], es[i]
    return e0 + (p - p0) * (e1 - e0) / (p1 - p0)


def _cut(
    ps: tuple[float, ...], es: tuple[float, ...], p: float, e: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The knots with one more at (p, e), the present, unless the last is there already
    (or ahead, should the wall clock have stepped back a little)."""
    if p <= ps[-1]:
        return ps, es
    return (*ps, p), (*es, e)
