"""A picture of a campaign's engagement: cumulative totals over time, one line per platform.

Each snapshot replaces that delivery's previous values, so a point at time t is the sum,
over the campaign's posts, of the latest value known at t. Two panels: interactions
(likes, reposts, replies, quotes) and views.

``figure`` turns the series into a ``bot.engagement.svgchart.Figure``: a marker at each
snapshot, dashed lines between snapshots, nothing after the last, times in the
campaign's zone. The console inlines its SVG; ``draw`` writes it to FILE.svg, or to
FILE.png through matplotlib (Agg backend, no display needed) drawn the same way.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.engagement import estimates
from bot.engagement.estimates import Chunk, ChunkKey
from bot.engagement.report import INTERACTIONS, scope_of, snapshot_rows, when
from bot.engagement.svgchart import KEY, Figure, Line, Marker, Panel, Point, Tick, line_chart

# Per platform: its name, a colour (>= 3:1 on white, as graphics need) and a marker
# shape, so the two are told apart without colour too.
PLATFORM_STYLES = {
    "x": ("X", "#1d1d1f", Marker.CIRCLE),
    "facebook": ("Facebook", "#1f5fbf", Marker.SQUARE),
    "bluesky": ("Bluesky", "#0b6b8a", Marker.DIAMOND),  # 5.9:1 on white
}
OTHER_STYLE = ("#8a4b08", Marker.TRIANGLE)
INTERACTIONS_TITLE = "likes + reposts + replies + quotes"
VIEWS_TITLE = "views (impressions)"
# (interactions, views) at one snapshot; None where the platforms gave none.
Pair = tuple[float | None, float | None]
Series = dict[str, list[tuple[datetime, int | None, int | None]]]  # platform -> points
# Tick steps on a real clock (seconds) and on an accelerated one (sandbox days).
REAL_STEPS = (300, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600)
SANDBOX_STEPS = (1 / 24, 1 / 12, 0.25, 0.5, 1, 2, 7, 14, 28)
MAX_TICKS = 5
_ZERO = timedelta(0)


def cumulative(
    session: Session, slug: str, *, post: str | None = None, rows: Iterable[Any] | None = None
) -> Series:
    """The campaign's (or only ``post``'s) cumulative totals at each snapshot time.

    A delivery an estimate counts (a sampled release) stands, from that snapshot, for its
    share of the estimate (total / population), so the line shows the estimate once and
    not the sample's own readings on top of it. A figure no snapshot so far could give
    (Facebook gives no views of a text post) is None, never 0."""
    if rows is None:
        rows = snapshot_rows(session, scope_of(session, slug, post), post)
    # platform -> delivery -> (interactions, views), None where the platform gave none
    known: dict[str, dict[int, Pair]] = defaultdict(dict)
    # platform -> [interactions, views, deliveries giving interactions, giving views]
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0])
    series: Series = defaultdict(list)
    pending: dict[tuple[str, int], list[float | None]] = {}
    chunks: dict[ChunkKey, Chunk] = {}
    moment: datetime | None = None

    def settle() -> None:
        for chunk in chunks.values():  # this moment's estimates: a share for each member
            population = chunk.population or 1
            inter = _summed(chunk.values.get(m, (None,))[0] for m in INTERACTIONS)
            views = chunk.values.get("views", (None,))[0]
            for delivery_id in chunk.members:
                pending[(chunk.platform, delivery_id)] = [
                    None if inter is None else inter / population,
                    None if views is None else views / population,
                ]
        chunks.clear()
        for (platform, delivery_id), new in pending.items():
            old = known[platform].get(delivery_id, (None, None))
            total = totals[platform]
            for i in (0, 1):
                if old[i] is not None:
                    total[i] -= old[i]  # type: ignore[operator]
                    total[i + 2] -= 1
                if new[i] is not None:
                    total[i] += new[i]  # type: ignore[operator]
                    total[i + 2] += 1
            known[platform][delivery_id] = (new[0], new[1])
        for platform in sorted({p for p, _ in pending}):
            inter_sum, views_sum, giving_inter, giving_views = totals[platform]
            assert moment is not None
            series[platform].append(
                (
                    moment,
                    round(inter_sum) if giving_inter else None,
                    round(views_sum) if giving_views else None,
                )
            )
        pending.clear()

    for row in rows:
        if row.taken_at != moment:
            settle()
            moment = row.taken_at
        if row.estimated:
            estimates.take(chunks, row)
            continue
        if row.delivery_id is None:
            continue
        entry = pending.setdefault((row.platform, row.delivery_id), [None, None])
        if row.value is None:
            continue
        if row.metric in INTERACTIONS:
            entry[0] = (entry[0] or 0) + row.value
        elif row.metric == "views":
            entry[1] = (entry[1] or 0) + row.value
    settle()
    return dict(series)


def _summed(values: Iterable[int | None]) -> int | None:
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def platform_name(platform: str) -> str:
    return PLATFORM_STYLES.get(platform, (platform.capitalize(), "", Marker.CIRCLE))[0]


def figure(
    series: Series,
    title: str,
    *,
    zone: str = "UTC",
    acceleration: float = 1.0,
    start: datetime | None = None,
) -> Figure:
    """The chart of ``series``: a panel of interactions and one of views, a line per
    platform with a point per snapshot.

    At real time the x axis is the snapshot's time in ``zone``. On a sandbox whose clock
    runs ``acceleration`` times faster, it is sandbox days since ``start`` (the first post
    went out; default the first snapshot), and says the clock is accelerated: a week
    there passed in minutes here."""
    accelerated = acceleration != 1
    times = [p[0] for points in series.values() for p in points]
    origin = start or min(times, default=None)

    def x_of(at: datetime) -> float:
        if accelerated and origin is not None:
            return (at - origin).total_seconds() * acceleration / 86400
        return at.timestamp()

    def label_of(at: datetime) -> str:
        if accelerated:
            return f"sandbox day {x_of(at):.2f} ({when(at, zone, named=False)} real time)"
        return when(at, zone, named=False)

    panels = []
    described = []
    for index, panel_title in ((1, INTERACTIONS_TITLE), (2, VIEWS_TITLE)):
        lines = []
        notes = []
        for platform, points in sorted(series.items()):
            name, colour, marker = PLATFORM_STYLES.get(
                platform, (platform.capitalize(), *OTHER_STYLE)
            )
            shown = tuple(
                Point(x_of(at), value, label_of(at))
                for at, value in ((p[0], p[1] if index == 1 else p[2]) for p in points)
                if value is not None
            )
            if shown:
                lines.append(Line(name, colour, marker, shown))
                if index == 1:
                    described.append(
                        f"{name}: {len(shown)} snapshot{'s' if len(shown) != 1 else ''}, "
                        f"{shown[0].value:,} interactions at the first ({shown[0].label}), "
                        f"{shown[-1].value:,} at the last ({shown[-1].label})"
                    )
            elif points:
                notes.append(f"{name}: {panel_title.split(' (')[0]} not available")
        panels.append(Panel(panel_title, tuple(lines), tuple(notes)))
    if accelerated:
        x_label = (
            "days after the first post went out, in sandbox time "
            f"(the sandbox's clock runs {acceleration:g}x faster than real time)"
        )
        ticks = _sandbox_ticks([x_of(t) for t in times])
    else:
        x_label = f"time of snapshot ({zone})"
        ticks = _real_ticks(times, zone)
    description = (
        "Cumulative engagement, one point per snapshot. " + "; ".join(described) + "."
        if described
        else "No snapshots yet."
    )
    return Figure(title, description, x_label, tuple(ticks), tuple(panels))


def nice_step(span: float, steps: tuple[float, ...], unit: float) -> float:
    """The smallest of ``steps`` that divides ``span`` into at most MAX_TICKS - 1 parts;
    past the list, 1, 2 or 5 times a power of ten of ``unit`` (days)."""
    for step in steps:
        if span / step <= MAX_TICKS - 1:
            return step
    magnitude = unit
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if step > steps[-1] and span / step <= MAX_TICKS - 1:
                return step
        magnitude *= 10


def _real_ticks(times: list[datetime], zone: str) -> list[Tick]:
    if not times:
        return []
    first, last = min(times).timestamp(), max(times).timestamp()
    span = max(last - first, 1.0)
    step = nice_step(span, REAL_STEPS, 86400)
    tz = ZoneInfo(zone)
    offset = (min(times).astimezone(tz).utcoffset() or _ZERO).total_seconds()
    at = math.floor((first + offset) / step) * step - offset
    ticks = []
    previous_day = None
    while at <= last + 1e-6:
        if at >= first - 1e-6:
            local = datetime.fromtimestamp(at, tz)
            day = f"{local:%a} {local.day} {local:%b}"
            if step >= 86400:
                lines: tuple[str, ...] = (f"{local.day} {local:%b}",)
            elif day != previous_day:
                lines = (f"{local:%H:%M}", day)
            else:
                lines = (f"{local:%H:%M}",)
            previous_day = day
            ticks.append(Tick(at, lines))
        at += step
    return ticks


def _sandbox_ticks(days: list[float]) -> list[Tick]:
    if not days:
        return []
    first, last = min(days), max(days)
    span = max(last - first, 1 / 24)
    step = nice_step(span, SANDBOX_STEPS, 1)
    at = math.ceil(first / step - 1e-9) * step
    ticks = []
    while at <= last + 1e-9:
        ticks.append(Tick(at, (f"day {round(at, 2):g}",)))
        at += step
    return ticks


def draw(
    series: Series,
    path: Path,
    title: str,
    *,
    acceleration: float = 1.0,
    start: datetime | None = None,
    zone: str = "UTC",
) -> None:
    """Write the chart to ``path``: .svg as ``svgchart`` writes it, .png through matplotlib
    drawn the same way (a marker per snapshot, dashed between, nothing after the last)."""
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError("the chart file must end in .png or .svg")
    drawn = figure(series, title, zone=zone, acceleration=acceleration, start=start)
    if suffix == ".svg":
        path.write_text(line_chart(drawn) + "\n", encoding="utf-8")
    else:
        draw_png(drawn, path)


_MATPLOTLIB_MARKERS = {
    Marker.CIRCLE: "o",
    Marker.SQUARE: "s",
    Marker.TRIANGLE: "^",
    Marker.DIAMOND: "D",
}


def draw_png(drawn: Figure, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure_, axes = plt.subplots(len(drawn.panels), 1, figsize=(9, 7), sharex=True, squeeze=False)
    for ax, panel in zip(axes[:, 0], drawn.panels, strict=True):
        for line in panel.lines:
            ax.plot(
                [p.x for p in line.points],
                [p.value for p in line.points],
                linestyle="--",
                linewidth=1.5,
                marker=_MATPLOTLIB_MARKERS[line.marker],
                markersize=6,
                color=line.colour,
                label=line.name,
            )
        ax.set_ylabel(panel.title)
        ax.set_ylim(bottom=0)
        ax.grid(True, axis="y", alpha=0.3)
        if panel.lines:
            ax.legend(loc="upper left")
        for i, note in enumerate(panel.notes):
            ax.text(0.99, 0.04 + 0.08 * i, note, transform=ax.transAxes, ha="right", fontsize=9)
    bottom = axes[-1, 0]
    bottom.set_xticks([t.x for t in drawn.ticks], ["\n".join(t.lines) for t in drawn.ticks])
    bottom.set_xlabel(drawn.x_label)
    axes[0, 0].set_title(drawn.title)
    figure_.text(
        0.01,
        0.005,
        KEY,
        fontsize=8,
    )
    figure_.tight_layout(rect=(0, 0.02, 1, 1))
    figure_.savefig(path)
    plt.close(figure_)
