"""Charts as small SVG documents, written by hand: the console inlines them in its pages
and ``report --chart FILE.svg`` writes them to a file.

What a chart must say honestly: engagement is only known at the moments a snapshot was
taken. Each snapshot is a marker (its own ``<title>`` gives the reading); dashed lines
join consecutive snapshots (nothing was read in between, so nothing flat is drawn there)
and nothing is drawn after the last one.

The SVG uses presentation attributes only (``fill=``, ``stroke=``), never a ``style``
attribute, a ``<style>`` element or a script, so it renders under the console's
Content-Security-Policy (``default-src 'self'``, no inline styles). Every text is
escaped. ``role="img"`` with ``<title>`` and ``<desc>`` names it for screen readers; the
pages put the numbers in a table below it as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from html import escape

WIDTH = 420
LEFT = 54  # room for the y axis' numbers
RIGHT = 18
PLOT_HEIGHT = 140
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
INK = "#1d1d1f"
MUTED = "#4a4a4f"  # 8.6:1 on white
GRID = "#dcdcde"
DASH = "5 4"
KEY = "Each point is a snapshot; dashed lines only join snapshots: nothing was read between them."


class Marker(StrEnum):
    """Each series has its own marker shape, so no series is told by colour alone."""

    CIRCLE = "circle"
    SQUARE = "square"
    TRIANGLE = "triangle"
    DIAMOND = "diamond"


@dataclass(frozen=True)
class Point:
    """One snapshot: where it sits on the x axis, its value, and how to name its time."""

    x: float
    value: int
    label: str  # the snapshot's time as people read it ("Mon 7 Dec 18:00")


@dataclass(frozen=True)
class Line:
    name: str
    colour: str
    marker: Marker
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Panel:
    title: str  # what the y axis counts
    lines: tuple[Line, ...]
    notes: tuple[str, ...] = ()  # e.g. "Facebook: views not available"


@dataclass(frozen=True)
class Tick:
    x: float
    lines: tuple[str, ...]  # one or two lines of text under the axis


@dataclass(frozen=True)
class Figure:
    title: str
    description: str
    x_label: str
    ticks: tuple[Tick, ...]
    panels: tuple[Panel, ...]

    def points(self) -> int:
        return sum(len(line.points) for panel in self.panels for line in panel.lines)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: not available (no bar is drawn, and it says so)
    shown: str  # the value as the page shows it
    low: int | None = None
    high: int | None = None
    estimated: bool = False


@dataclass
class _Svg:
    """An SVG document being written, top to bottom."""

    ident: str
    parts: list[str] = field(default_factory=list)
    y: float = 0.0

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: int = 12,
        anchor: str = "start",
        weight: str = "normal",
        fill: str = INK,
    ) -> None:
        self.add(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(text)}</text>'
        )

    def document(self, title: str, description: str) -> str:
        height = math.ceil(self.y + 8)
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} '
            f'{height}" width="{WIDTH}" height="{height}" role="img" '
            f'aria-labelledby="{self.ident}-title {self.ident}-desc" '
            f'font-family="{escape(FONT)}">'
            f'<title id="{self.ident}-title">{escape(title)}</title>'
            f'<desc id="{self.ident}-desc">{escape(description)}</desc>'
            f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>'
            + "".join(self.parts)
            + "</svg>"
        )


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken between words."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines or [""]


def compact(value: float) -> str:
    """A y-axis number short enough for the margin: 950, 12k, 1.5M."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.3g}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:.3g}k"
    return f"{value:,.0f}"


def nice_top(value: float) -> tuple[float, float]:
    """The y axis' top and step: a round step, at most four of them up to ``value``."""
    if value <= 0:
        return 4.0, 1.0
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw:
            break
    step = max(step, 1.0)
    return math.ceil(value / step - 1e-9) * step, step


def _marker(shape: Marker, x: float, y: float, colour: str, title: str) -> str:
    r = 4.5
    common = f'class="snapshot" fill="{colour}" stroke="#ffffff" stroke-width="1.2"'
    tip = f"<title>{escape(title)}</title>"
    if shape is Marker.CIRCLE:
        return f'<circle {common} cx="{x:.1f}" cy="{y:.1f}" r="{r}">{tip}</circle>'
    if shape is Marker.SQUARE:
        return (
            f'<rect {common} x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" '
            f'height="{2 * r}">{tip}</rect>'
        )
    if shape is Marker.TRIANGLE:
        d = f"M{x:.1f} {y - r - 1:.1f}L{x + r + 1:.1f} {y + r:.1f}L{x - r - 1:.1f} {y + r:.1f}Z"
    else:
        k = r + 1
        d = f"M{x:.1f} {y - k:.1f}L{x + k:.1f} {y:.1f}L{x:.1f} {y + k:.1f}L{x - k:.1f} {y:.1f}Z"
    return f'<path {common} d="{d}">{tip}</path>'


def _legend_sample(svg: _Svg, x: float, y: float, line: Line) -> float:
    """A legend entry at (x, y): a dashed stroke, the marker, the name; returns its end."""
    svg.add(
        f'<path d="M{x:.1f} {y - 4:.1f}H{x + 26:.1f}" stroke="{line.colour}" '
        f'stroke-width="2" stroke-dasharray="{DASH}" fill="none"/>'
    )
    svg.add(
        _marker(line.marker, x + 13, y - 4, line.colour, line.name).replace('class="snapshot" ', "")
    )
    svg.text(x + 32, y, line.name, size=14)
    return x + 32 + 8 * len(line.name) + 18


def line_chart(figure: Figure, ident: str = "chart", *, key: bool = True) -> str:
    """The figure as an SVG document: its panels stacked, sharing the x axis' range.
    ``key``: say inside the drawing what points and dashes mean (a page that says it in
    the caption leaves it out)."""
    svg = _Svg(ident)
    svg.y = 6
    for text in wrap(figure.title, 38):
        svg.y += 21
        svg.text(8, svg.y, text, size=17, weight="bold")
    lines = {line.name: line for panel in figure.panels for line in panel.lines}
    if lines:
        svg.y += 24
        x = 8.0
        for line in lines.values():
            x = _legend_sample(svg, x, svg.y, line)
    for text in wrap(KEY, 56) if key else []:
        svg.y += 17
        svg.text(8, svg.y, text, size=13, fill=MUTED)
    xs = [p.x for panel in figure.panels for line in panel.lines for p in line.points]
    xs += [t.x for t in figure.ticks]
    low, high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    span = WIDTH - LEFT - RIGHT

    def sx(value: float) -> float:
        return LEFT + (value - low) / (high - low) * span

    for panel in figure.panels:
        _panel(svg, panel, figure.ticks, sx)
    svg.y += 6
    for text in wrap(figure.x_label, 56):
        svg.y += 17
        svg.text(WIDTH / 2, svg.y, text, size=13, anchor="middle", fill=MUTED)
    return svg.document(figure.title, figure.description)


def _panel(svg: _Svg, panel: Panel, ticks: Iterable[Tick], sx: Callable[[float], float]) -> None:
    svg.y += 30
    svg.text(8, svg.y, panel.title, size=14, weight="bold")
    top_y = svg.y + 12
    bottom_y = top_y + PLOT_HEIGHT
    values = [p.value for line in panel.lines for p in line.points]
    top, step = nice_top(max(values, default=0))

    def sy(value: float) -> float:
        return bottom_y - value / top * PLOT_HEIGHT

    level = 0.0
    while level <= top + 1e-9:
        y = sy(level)
        svg.add(
            f'<path d="M{LEFT:.1f} {y:.1f}H{WIDTH - RIGHT:.1f}" stroke="{GRID}" '
            'stroke-width="1" fill="none"/>'
        )
        svg.text(LEFT - 6, y + 4, compact(level), size=13, anchor="end", fill=MUTED)
        level += step
    svg.add(
        f'<path d="M{LEFT:.1f} {bottom_y:.1f}H{WIDTH - RIGHT:.1f}" stroke="{MUTED}" '
        'stroke-width="1" fill="none"/>'
    )
    for tick in ticks:
        x = sx(tick.x)
        svg.add(
            f'<path d="M{x:.1f} {bottom_y:.1f}V{bottom_y + 5:.1f}" stroke="{MUTED}" '
            'stroke-width="1" fill="none"/>'
        )
        for i, text in enumerate(tick.lines):
            svg.text(x, bottom_y + 19 + 15 * i, text, size=13, anchor="middle", fill=MUTED)
    for line in panel.lines:
        points = [(sx(p.x), sy(p.value)) for p in line.points]
        if len(points) > 1:
            d = "M" + "L".join(f"{x:.1f} {y:.1f}" for x, y in points)
            svg.add(
                f'<path class="between" d="{d}" stroke="{line.colour}" stroke-width="2" '
                f'stroke-dasharray="{DASH}" fill="none"/>'
            )
        for (x, y), point in zip(points, line.points, strict=True):
            svg.add(
                _marker(
                    line.marker,
                    x,
                    y,
                    line.colour,
                    f"{line.name}, {point.label}: {point.value:,}",
                )
            )
    svg.y = bottom_y + 19 + 15 * max((len(t.lines) for t in ticks), default=1)
    for note in panel.notes:
        svg.y += 17
        svg.text(8, svg.y, note, size=13, fill=MUTED)


BAR_COLOUR = "#1f4fa3"  # 7.6:1 on white
ESTIMATE_COLOUR = "#7d9bd1"
BAR_SPACE = 270  # the longest bar; its number is written after it


def bar_chart(title: str, description: str, bars: list[Bar], ident: str = "bars") -> str:
    """Horizontal bars, one per row, each named above its bar; an estimate is a lighter
    bar with its range drawn as a whisker; an unavailable value says so, with no bar."""
    svg = _Svg(ident)
    svg.y = 6
    for text in wrap(title, 38):
        svg.y += 21
        svg.text(8, svg.y, text, size=17, weight="bold")
    largest = max((b.high or b.value or 0 for b in bars), default=0) or 1
    for bar in bars:
        svg.y += 10
        for text in wrap(bar.label, 52):
            svg.y += 17
            svg.text(8, svg.y, text, size=13)
        top = svg.y + 7
        if bar.value is None:
            svg.text(8, top + 12, bar.shown, size=12, fill=MUTED)
            svg.y = top + 16
            continue
        length = max(2.0, bar.value / largest * BAR_SPACE)
        colour = ESTIMATE_COLOUR if bar.estimated else BAR_COLOUR
        svg.add(
            f'<rect class="bar" x="8" y="{top:.1f}" width="{length:.1f}" height="16" '
            f'fill="{colour}"><title>{escape(bar.label)}: {escape(bar.shown)}</title></rect>'
        )
        end = 8 + length
        if bar.estimated and bar.low is not None and bar.high is not None:
            a = 8 + bar.low / largest * BAR_SPACE
            b = 8 + bar.high / largest * BAR_SPACE
            svg.add(
                f'<path d="M{a:.1f} {top + 8:.1f}H{b:.1f}M{a:.1f} {top + 3:.1f}V{top + 13:.1f}'
                f'M{b:.1f} {top + 3:.1f}V{top + 13:.1f}" stroke="{INK}" stroke-width="1.5" '
                'fill="none"/>'
            )
            end = max(end, b)
        svg.text(end + 6, top + 13, bar.shown, size=13)
        svg.y = top + 16
    return svg.document(title, description)
