"""Number options for click commands (the CLI's and the sandbox's): always bounded.

A bare ``type=int`` takes 99999999999999999999, which overflows a timedelta, a sleep or a
32-bit database column far from the option that took it; a bare ``type=float`` takes
``nan``, ``inf`` and ``1e400`` (which is inf). And click's FloatRange lets ``nan``
through whatever its bounds, since nan compares false with both.
"""

from __future__ import annotations

import math
from typing import Any

import click

# The largest count any option takes: far above any campaign's posts or supporters, and
# inside a 32-bit database integer (PostgreSQL's INTEGER, 2**31 - 1).
MAX_COUNT = 1_000_000_000


def whole(low: int, high: int = MAX_COUNT) -> click.IntRange:
    """A whole number from ``low`` to ``high``, both included."""
    return click.IntRange(low, high)


class Finite(click.FloatRange):
    """A finite number from ``low`` to ``high``, both included; never nan or infinity."""

    name = "finite number"

    def __init__(self, low: float, high: float) -> None:
        super().__init__(low, high)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            low, high = _plain(self.min), _plain(self.max)
            self.fail(f"{value!r} is not a number; give one from {low} to {high}", param, ctx)
        return number


def _plain(number: float | None) -> str:
    """1,000,000 rather than 1e+06 or 1000000.0."""
    if number is None:
        return "any"
    return f"{int(number):,}" if float(number).is_integer() else f"{number:,}"
