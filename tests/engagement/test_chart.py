"""The engagement chart draws snapshots as the points they are: a marker per snapshot,
dashed lines only between snapshots, nothing after the last, no flat line across a gap,
nothing for a figure the platform does not give; the SVG parses, is escaped and needs no
inline style or script."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.engagement import chart
from bot.engagement.chart import Series
from bot.engagement.svgchart import Bar, bar_chart, line_chart
from tests.support.reports import SVG, markers, parse_svg

START = datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


# X read at 1 h and then not until 7 d (the 24 h snapshot was missed); Facebook at 1 h
# and 24 h, and Facebook never gives views.
GAPPY: Series = {
    "x": [(_at(1), 5, 100), (_at(168), 40, 900)],
    "facebook": [(_at(1), 12, None), (_at(24), 30, None)],
}


def _svg(series: Series = GAPPY, title: str = "Demo: engagement", **kwargs: object) -> str:
    figure = chart.figure(series, title, zone="Europe/London", **kwargs)  # type: ignore[arg-type]
    return line_chart(figure)


def _path_points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML]([\d.]+) ([\d.]+)", d)]


def _centre(marker: object) -> tuple[float, float]:
    e = marker
    if e.tag == f"{SVG}circle":  # type: ignore[attr-defined]
        return float(e.get("cx")), float(e.get("cy"))  # type: ignore[attr-defined]
    if e.tag == f"{SVG}rect":  # type: ignore[attr-defined]
        return (
            float(e.get("x")) + float(e.get("width")) / 2,  # type: ignore[attr-defined]
            float(e.get("y")) + float(e.get("height")) / 2,  # type: ignore[attr-defined]
        )
    raise AssertionError(e.tag)  # type: ignore[attr-defined]


def test_the_svg_parses_and_names_itself_for_screen_readers():
    svg = parse_svg(_svg())
    assert svg.get("role") == "img"
    title, desc = svg[0], svg[1]
    assert title.tag == f"{SVG}title" and title.text == "Demo: engagement"
    assert desc.tag == f"{SVG}desc" and "X: 2 snapshots" in (desc.text or "")
    assert svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"


def test_there_is_one_marker_per_snapshot_and_none_for_a_figure_not_given():
    svg = parse_svg(_svg())
    # interactions: X 2 + Facebook 2; views: X 2 and no Facebook line at all (not zeros)
    assert len(markers(svg)) == 6
    tips = [m.find(f"{SVG}title").text for m in markers(svg)]  # type: ignore[union-attr]
    assert "X, Mon 2 Nov 18:00: 5" in tips and "X, Mon 9 Nov 17:00: 900" in tips
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Facebook: views not available" in texts


def test_no_line_extends_past_the_last_snapshot_nor_runs_flat_across_a_gap():
    svg = parse_svg(_svg())
    lines = [p for p in svg.iter(f"{SVG}path") if p.get("class") == "between"]
    centres = [_centre(m) for m in markers(svg)]
    assert len(lines) == 3  # X interactions, Facebook interactions, X views
    for line in lines:
        points = _path_points(line.get("d", ""))
        assert line.get("stroke-dasharray")  # dashed: nothing was read between
        # The line goes from snapshot to snapshot and nowhere else: no step at the old
        # value across the gap, no tail after the last snapshot.
        for point in points:
            assert any(abs(point[0] - c[0]) < 0.2 and abs(point[1] - c[1]) < 0.2 for c in centres)
    x_interactions = _path_points(lines[1].get("d", ""))  # lines are in platform order
    (x0, y0), (x1, y1) = x_interactions
    assert x1 > x0 and y1 < y0  # straight up to the 7 d reading, not flat at 5 first
    right_edge = max(c[0] for c in centres)
    assert all(x <= right_edge + 0.01 for line in lines for x, _ in _path_points(line.get("d", "")))


def test_a_single_snapshot_is_a_point_without_a_line():
    svg = parse_svg(_svg({"x": [(_at(1), 7, 70)]}))
    assert len(markers(svg)) == 2
    assert not [p for p in svg.iter(f"{SVG}path") if p.get("class") == "between"]


def test_text_is_escaped_and_nothing_needs_an_inline_style_or_script():
    title = 'Rally <script>alert("x")</script> & "friends"'
    drawn = _svg(title=title)
    assert "<script" not in drawn and "&lt;script&gt;" in drawn
    assert parse_svg(drawn)[0].text == title
    bars = bar_chart(
        "Interactions per post",
        "desc",
        [Bar("“=1+2 <b>” · Mon 2 Nov 17:00", 12, "12"), Bar("none", None, "not available")],
    )
    assert parse_svg(bars)[0].text == "Interactions per post"
    for document in (drawn, bars):
        assert " style=" not in document and "<style" not in document and "<script" not in document


def test_times_are_in_the_campaigns_zone_and_an_accelerated_clock_counts_sandbox_days():
    real = _svg()
    assert "time of snapshot (Europe/London)" in real
    fast = parse_svg(_svg(acceleration=1000, start=START))
    texts = [t.text or "" for t in fast.iter(f"{SVG}text")]
    assert any("runs 1000x faster than real time" in t for t in texts)
    ticks = [t for t in texts if t.startswith("day ")]
    assert 2 <= len(set(ticks)) <= 5  # a readable axis over 7,000 sandbox days
    assert len(ticks) == 2 * len(set(ticks))  # under each panel


def test_the_png_is_drawn_from_the_same_figure(tmp_path: Path):
    png = tmp_path / "chart.png"
    chart.draw(GAPPY, png, "Demo: engagement", zone="Europe/London")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
