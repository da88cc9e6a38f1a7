"""Reports in the console: the CLI's figures, estimates labelled, "not available" never
0, posts named by their words and time, the chart's points, a formula-safe CSV with each
post's text. (Who may open them is walked with every route in test_security.py.)"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from bot.cli import main
from bot.console.roles import Role
from bot.runtime.wiring import Runtime
from bot.storage.vault import generate_key
from tests.support.console import ConsoleHarness, console_runtime
from tests.support.processes import runtime_for
from tests.support.reports import (
    RALLY,
    RELEASE_TEXT,
    SNEAKY,
    SVG,
    markers,
    seed_report,
    svgs_in,
    table_rows,
)


@pytest.fixture
def reported(engine: Engine, make_console: Callable[[Runtime], ConsoleHarness]) -> ConsoleHarness:
    """A console on real platforms' time (no sandbox clock) with a campaign to report."""
    harness = make_console(console_runtime(engine, SANDBOX="off"))
    seed_report(harness.sessions)
    return harness


def _figure(cell: str) -> tuple[str, ...]:
    """A figure as (value, low, high), from the CLI ("~110 (100-122)", "n/a", "30") or
    the page ("110 ± 12 (estimated) | 95% range 100–122", "not available", "1,200")."""
    cell = cell.replace(",", "")
    if cell in ("n/a", "not available"):
        return ("n/a",)
    if match := re.fullmatch(r"~(\d+) \((\d+)-(\d+)\)", cell):
        return match.groups()
    if match := re.fullmatch(r"(\d+) ± \d+ \(estimated\) \| 95% range (\d+)–(\d+)", cell):
        return match.groups()
    assert re.fullmatch(r"\d+", cell), cell
    return (cell,)


def test_the_page_shows_the_same_figures_as_the_cli_report(
    tmp_path: Path, empty_database: str, make_console: Callable[[Runtime], ConsoleHarness]
):
    config = tmp_path / "config.env"
    config.write_text(
        f"DATABASE_URL={empty_database}\nTOKEN_ENCRYPTION_KEYS={generate_key()}\n"
        "WEB_SECRET_KEY=test-web-secret-key-0123456789abcdef\nWEB_BASE_URL=http://testserver\n"
        "SANDBOX=off\n"
    )
    runner = CliRunner(env={"DATABASE_URL": None, "WEB_BASE_URL": None, "SANDBOX": None})
    assert runner.invoke(main, ["--config", str(config), "deliveries", "list"]).exit_code == 0
    harness = make_console(runtime_for(config))
    seed_report(harness.sessions)
    printed = runner.invoke(main, ["--config", str(config), "report", "demo"])
    assert printed.exit_code == 0, printed.output
    cli_rows = {}
    for line in printed.output.split("\ngrowth")[0].splitlines()[2:]:
        if not line.strip() or line.startswith("-"):
            continue
        cells = re.split(r"\s{2,}", line.strip())
        cli_rows[cells[0]] = [_figure(c) for c in cells[1:]]

    page = harness.client(Role.VIEWER).get("/console/reports/demo")
    assert page.status_code == 200
    header, *rows = table_rows(page.text, "report-totals")
    assert header == ["Figure", "Facebook", "X", "Total"]
    page_rows = {row[0]: [_figure(c) for c in row[1:]] for row in rows}
    assert page_rows == cli_rows
    assert page_rows["likes"][1] == ("110", "100", "122")  # X: 30 + 40 + the release's 40


def test_an_estimate_says_so_with_its_range_and_a_missing_figure_is_never_zero(
    reported: ConsoleHarness,
):
    page = reported.client(Role.VIEWER).get("/console/reports/demo").text
    rows = {row[0]: row[1:] for row in table_rows(page, "report-totals")}
    facebook, x, total = rows["likes"]
    assert x == "110 ± 12 (estimated) | 95% range 100–122"
    assert facebook == "30"  # read, not estimated: a plain number
    assert rows["views"][0] == "not available" and rows["quotes"] == ["not available"] * 3
    growth = {row[0]: row[1:] for row in table_rows(page, "report-growth")}
    assert growth["after 1h"][0] == "7"  # rally on X and Facebook, gap, the release's 4
    assert "(estimated)" in growth["after 1h"][1]


def test_posts_are_named_by_their_words_and_time_in_the_campaigns_zone(
    reported: ConsoleHarness,
):
    page = reported.client(Role.VIEWER).get("/console/reports/demo").text
    names = [row[0] for row in table_rows(page, "report-posts")[1:]]
    assert names == [
        # most interactions first: 2 x (30 + 6 + 3), then 40 + 8 estimated, then 40 + 4
        "“Rally at 8:30 outside Fujitsu HQ. Bring a flag…” · Mon 2 Nov 17:00",
        "Pledge release: 4 supporters' posts · Mon 2 Nov 17:00",
        '“=HYPERLINK("http://evil.example")…” · Mon 2 Nov 17:00',
    ]
    assert "example.invalid" not in "".join(names)
    top = re.search(r'<ol class="top-posts">.*?</ol>', page, flags=re.S)
    assert top and "“Rally at 8:30" in top.group(0)
    # What a volunteer typed is text on the page, never markup, in the table and charts.
    assert "<script" not in page
    per_post = svgs_in(page)[1]
    labels = [t.text or "" for t in per_post.iter(f"{SVG}text")]
    assert any(label.startswith("“=HYPERLINK") for label in labels)
    assert RELEASE_TEXT not in page  # a release is one line, not 4 copies of its text


def test_the_campaign_chart_has_one_point_per_snapshot_and_its_numbers_in_a_table(
    reported: ConsoleHarness,
):
    page = reported.client(Role.VIEWER).get("/console/reports/demo").text
    chart = svgs_in(page)[0]
    assert chart.get("role") == "img" and chart[0].tag == f"{SVG}title"
    points = markers(chart)
    # Interactions: X at 1h, 1.5h (gap), 2h (release), 24h, 7d; Facebook at 1h, 24h.
    # Views: X at the same five moments; Facebook gives none, and says so.
    assert len(points) == 5 + 2 + 5
    assert "Facebook: views not available" in page
    assert "The chart&#39;s numbers" in page or "The chart's numbers" in page
    assert "Mon 2 Nov 18:00" in page  # the first snapshot, in Europe/London


def test_a_posts_report_shows_its_growth_and_chart_and_links_back(reported: ConsoleHarness):
    client = reported.client(Role.VIEWER)
    page = client.get("/console/reports/demo/posts/gap")
    assert page.status_code == 200
    assert "“=HYPERLINK(&#34;http://evil.example&#34;)" in page.text or (
        "“=HYPERLINK(&quot;http://evil.example&quot;)" in page.text
    )
    # The whole text, shown as text.
    assert "<script" not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    growth = [row[:3] for row in table_rows(page.text, "report-growth")[1:]]
    assert growth == [["after 1h", "1", "5"], ["after 7d", "1", "40"]]
    chart = svgs_in(page.text)[0]
    assert len(markers(chart)) == 4  # 2 x 2 panels
    assert 'href="/console/reports/demo"' in page.text
    assert 'href="/console/reports/demo/posts/gap/report.csv"' in page.text


def test_the_csv_has_each_posts_text_and_no_cell_a_spreadsheet_would_run(
    reported: ConsoleHarness,
):
    client = reported.client(Role.VIEWER)
    answer = client.get("/console/reports/demo/report.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    texts = {r["post_key"]: r["post_text"] for r in rows}
    assert texts["rally"] == RALLY
    assert texts["gap"] == "'" + SNEAKY
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@")), row
    one = list(
        csv.DictReader(io.StringIO(client.get("/console/reports/demo/posts/gap/report.csv").text))
    )
    assert {r["post_key"] for r in one} == {"gap"} and len(one) == 2


def test_an_unknown_campaign_or_post_is_named(reported: ConsoleHarness):
    client = reported.client(Role.VIEWER)
    missing = client.get("/console/reports/nope")
    assert missing.status_code == 404 and "no campaign &#39;nope&#39;" in missing.text.replace(
        "&#x27;", "&#39;"
    )
    post = client.get("/console/reports/demo/posts/nope")
    assert post.status_code == 404 and "has no post" in post.text
    assert client.get("/console/reports/nope/report.csv").status_code == 404


def test_the_reports_list_links_each_campaign_and_the_picker_opens_one(
    reported: ConsoleHarness,
):
    client = reported.client(Role.VIEWER)
    listing = client.get("/console/reports")
    assert listing.status_code == 200
    assert 'href="/console/reports/demo"' in listing.text and "7 posts sent" in listing.text
    assert '<a href="/console/reports" aria-current="page">Reports</a>' in listing.text
    picked = client.get("/console/reports?campaign=demo")
    assert picked.status_code == 303 and picked.headers["location"] == "/console/reports/demo"


def test_signed_out_people_are_sent_to_sign_in_before_any_report(reported: ConsoleHarness):
    anonymous = reported.client(None)
    for path in ("/console/reports/demo", "/console/reports/demo/report.csv"):
        answer = anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/sign-in?next=")
