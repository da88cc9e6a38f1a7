"""How engagement grew: the stages table, the CSV's sandbox ages, the chart's time axis."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bot.engagement import chart, report
from tests.support.engagement import World


def week(world: World) -> tuple[int, int]:
    """Two X posts and a Page post, read at 1 h, 24 h and 7 d, plus one refresh."""
    x1 = world.send(world.post("rally"), world.x_account(followers=5000))
    world.send(world.post("march"), world.x_account(followers=3000))
    fb = world.send(world.post("page"), world.facebook_page(followers=4000))
    poller = world.poller()
    for seconds in (3600, 23 * 3600, 6 * 86400):
        world.advance(seconds)
        assert poller.run().read == 3
    assert poller.run(refresh=True).read == 3
    return x1, fb


def test_the_stages_add_up_each_posts_reading_in_order_of_age(world: World):
    week(world)
    with world.sessions() as session:
        stages = report.growth(session, "demo")
        latest = report.build(session, "demo")
    assert [(s.label, s.posts) for s in stages] == [("1h", 3), ("24h", 3), ("7d", 3)]
    likes = [s.metrics["likes"].value for s in stages]
    views = [s.metrics["views"].value for s in stages]
    assert likes[0] < likes[1] < likes[2] and views[0] < views[1] < views[2]  # type: ignore[operator]
    assert not any(s.metrics["likes"].estimated for s in stages)
    # The refresh came after the 7d snapshot, at the same age: the latest is not less.
    assert latest.total.metrics["likes"].value >= likes[2]  # type: ignore[operator]


def test_the_csv_gives_each_readings_age_in_sandbox_hours_when_the_clock_is_accelerated(
    world: World,
):
    week(world)
    with world.sessions() as session:
        plain, fast = io.StringIO(), io.StringIO()
        report.write_csv(session, "demo", plain)
        report.write_csv(session, "demo", fast, acceleration=1000)
    real = list(csv.DictReader(io.StringIO(plain.getvalue())))
    sandbox = list(csv.DictReader(io.StringIO(fast.getvalue())))
    assert {r["sandbox_hours_after_sending"] for r in real} == {""}
    week_row = next(r for r in sandbox if r["snapshot"] == "7d")
    assert week_row["hours_after_sending"] == "168.00"
    assert week_row["sandbox_hours_after_sending"] == "168000.00"


def test_an_accelerated_chart_counts_sandbox_days_and_says_the_clock_is_fast(
    world: World, tmp_path: Path
):
    week(world)
    with world.sessions() as session:
        series = chart.cumulative(session, "demo")
        first = report.build(session, "demo").first_sent
    fast, real = tmp_path / "week.svg", tmp_path / "real.svg"
    chart.draw(series, fast, "Demo: engagement", acceleration=1000, start=first)
    chart.draw(series, real, "Demo: engagement")
    assert "runs 1000x faster than real time" in fast.read_text()
    assert "time of snapshot (UTC)" in real.read_text()
    assert "faster than real time" not in real.read_text()


def test_one_post_can_be_reported_alone(world: World):
    week(world)
    with world.sessions() as session:
        rally = report.build(session, "demo", post="rally")
        stages = report.growth(session, "demo", post="rally")
        rows = io.StringIO()
        written = report.write_csv(session, "demo", rows, post="rally")
        series = chart.cumulative(session, "demo", post="rally")
        whole = report.growth(session, "demo")
        with pytest.raises(report.UnknownPost):
            report.build(session, "demo", post="nope")
    assert rally.total.sent == 1 and rally.total.reach == 5000
    assert [(s.label, s.posts) for s in stages] == [("1h", 1), ("24h", 1), ("7d", 1)]
    assert stages[-1].metrics["likes"].value < whole[-1].metrics["likes"].value  # type: ignore[operator]
    # 1h, 24h, 7d (the refresh, taken at the same moment as the 7d, shares its row)
    assert written == 3 and {
        r["post_key"] for r in csv.DictReader(io.StringIO(rows.getvalue()))
    } == {"rally"}
    assert list(series) == ["x"]
