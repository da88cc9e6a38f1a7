"""A picture of a campaign's engagement: cumulative totals over time, one line per platform.

Each snapshot replaces that delivery's previous values, so a line at time t is the sum,
over the campaign's posts, of the latest value known at t. Two panels: interactions
(likes, reposts, replies, quotes) and views. matplotlib with the Agg backend (no display
needed); PNG or SVG from the file name.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from bot.engagement import estimates
from bot.engagement.estimates import Chunk, ChunkKey
from bot.engagement.report import INTERACTIONS, scope_of, snapshot_rows

_COLOURS = {"x": "#1d1d1f", "facebook": "#1877f2"}
Series = dict[str, list[tuple[datetime, int, int]]]  # platform -> (time, interactions, views)


def cumulative(session: Session, slug: str, *, post: str | None = None) -> Series:
    """The campaign's (or only ``post``'s) cumulative totals at each snapshot time.

    A delivery an estimate counts (a sampled release) stands, from that snapshot, for its
    share of the estimate (total / population), so the line shows the estimate once and
    not the sample's own readings on top of it."""
    rows = snapshot_rows(session, scope_of(session, slug, post), post)
    known: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    series: Series = defaultdict(list)
    pending: dict[tuple[str, int], list[float]] = {}
    chunks: dict[ChunkKey, Chunk] = {}
    moment: datetime | None = None

    def settle() -> None:
        for chunk in chunks.values():  # this moment's estimates: a share for each member
            population = chunk.population or 1
            chunk_inter = sum((chunk.values.get(m) or (0,))[0] or 0 for m in INTERACTIONS)
            chunk_views = (chunk.values.get("views") or (0,))[0] or 0
            for delivery_id in chunk.members:
                pending[(chunk.platform, delivery_id)] = [
                    chunk_inter / population,
                    chunk_views / population,
                ]
        chunks.clear()
        for (platform, delivery_id), (inter, views) in pending.items():
            old_inter, old_views = known[platform].get(delivery_id, (0.0, 0.0))
            totals[platform][0] += inter - old_inter
            totals[platform][1] += views - old_views
            known[platform][delivery_id] = (inter, views)
        assert moment is not None or not pending
        for platform in {p for p, _ in pending}:
            inter_sum, views_sum = totals[platform]
            series[platform].append((moment, round(inter_sum), round(views_sum)))  # type: ignore[arg-type]
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
        entry = pending.setdefault((row.platform, row.delivery_id), [0.0, 0.0])
        if row.metric in INTERACTIONS:
            entry[0] += row.value or 0
        elif row.metric == "views":
            entry[1] += row.value or 0
    settle()
    return dict(series)


def draw(
    series: Series,
    path: Path,
    title: str,
    *,
    acceleration: float = 1.0,
    start: datetime | None = None,
) -> None:
    """Write the chart to ``path`` (.png or .svg).

    At real time the x axis is the time of each snapshot (UTC). On a sandbox whose clock
    runs ``acceleration`` times faster, it is sandbox days since ``start`` (the first post
    went out; default the first snapshot), and says that the clock is accelerated: a week
    there passed in minutes here.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError("the chart file must end in .png or .svg")
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    accelerated = acceleration != 1
    origin = start or min((p[0] for points in series.values() for p in points), default=None)
    for platform, points in sorted(series.items()):
        times: list[Any] = [p[0] for p in points]
        if accelerated and origin is not None:
            times = [(t - origin).total_seconds() * acceleration / 86400 for t in times]
        label = "X" if platform == "x" else platform.capitalize()
        colour = _COLOURS.get(platform)
        top.step(
            times, [p[1] for p in points], where="post", label=label, color=colour, marker="o", ms=3
        )
        bottom.step(
            times, [p[2] for p in points], where="post", label=label, color=colour, marker="o", ms=3
        )
    top.set_title(title)
    top.set_ylabel("likes + reposts + replies + quotes")
    bottom.set_ylabel("views (impressions)")
    for axes in (top, bottom):
        axes.grid(True, alpha=0.3)
        if series:
            axes.legend(loc="upper left")
    if accelerated:
        bottom.set_xlabel(
            "days after the first post went out, in sandbox time "
            f"(the sandbox's clock runs {acceleration:g}x faster than real time)"
        )
    else:
        bottom.set_xlabel("time of snapshot (UTC)")
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
        figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
