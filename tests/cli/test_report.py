"""`report` and `engagement` as a volunteer runs them: table, CSV, JSON, chart, plan."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from bot.cli import main
from bot.engagement.report import CSV_COLUMNS
from bot.platforms.base import Credentials
from bot.sandbox.testing import running_sandbox
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, Post
from tests.support.cli import Cli, seed
from tests.support.reports import markers, parse_svg

ROOT = Path(__file__).resolve().parents[2]


def test_every_engagement_command_explains_itself_with_help():
    runner = CliRunner()
    for command in (["report"], ["engagement", "refresh"], ["engagement", "plan"]):
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert len(result.output.split("\n\n")[1].strip()) > 20, f"{command} has no help text"


def test_the_report_shows_each_platform_and_the_total_with_unavailable_as_na(cli: Cli):
    seed(cli)
    result = cli("report", "demo")
    assert result.exit_code == 0, result.output
    lines = {line.split("  ")[0]: line.split() for line in result.output.splitlines()}
    assert lines["posts sent"][-3:] == ["1", "1", "2"]
    assert lines["failed"][-3:] == ["0", "1", "1"]
    assert lines["reach (followers)"][-3:] == ["800", "1200", "2000"]
    assert lines["likes"][-3:] == ["30", "30", "60"]  # the latest snapshot, not a sum
    assert lines["views"][-3:] == ["n/a", "1500", "1500"]
    assert "top posts" in result.output and "example.invalid/111" in result.output


def test_the_report_as_json_has_totals_and_top_posts(cli: Cli):
    seed(cli)
    data = cli.json("report", "demo")
    assert data["total"]["sent"] == 2 and data["total"]["metrics"]["reposts"]["value"] == 12
    assert data["platforms"]["facebook"]["metrics"]["views"]["value"] is None
    assert [p["platform"] for p in data["top_posts"]] == ["x", "facebook"]
    x_series = data["series"]["x"]
    assert [(p["interactions"], p["views"]) for p in x_series] == [(13, 500), (39, 1500)]


def test_the_csv_has_one_row_per_delivery_per_snapshot(cli: Cli, tmp_path: Path):
    seed(cli)
    out = tmp_path / "demo.csv"
    assert cli("report", "demo", "--csv", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 4
    assert [(r["platform"], r["snapshot"], r["likes"]) for r in rows] == [
        ("x", "1h", "10"),
        ("x", "24h", "30"),
        ("facebook", "1h", "10"),
        ("facebook", "24h", "30"),
    ]
    assert rows[2]["views"] == "" and rows[1]["hours_after_sending"] == "24.00"


@pytest.mark.parametrize(
    "page_name",
    ['=HYPERLINK("http://evil.example")', " =1+1", "\uff1dcmd|' /C calc'!A0", "@SUM(A1)"],
)
def test_a_page_named_like_a_formula_is_text_in_the_csv(
    cli: Cli, tmp_path: Path, page_name: str
) -> None:
    seed(cli)
    with cli.runtime().sessions() as session:
        session.execute(
            update(Account).where(Account.platform == "facebook").values(handle=page_name)
        )
        session.commit()
    out = tmp_path / "demo.csv"
    assert cli("report", "demo", "--csv", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    pages = {r["account"] for r in rows if r["platform"] == "facebook"}
    assert pages == {"'" + page_name}
    assert {r["likes"] for r in rows} == {"10", "30"}  # numbers stay numbers


def test_the_csv_columns_are_the_ones_documented(tmp_path: Path):
    text = (ROOT / "docs" / "engagement.md").read_text()
    section = text.split("## CSV columns", 1)[1].split("\n## ", 1)[0]
    documented = tuple(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M))
    assert documented == CSV_COLUMNS


def test_the_chart_is_written_as_png_and_svg(cli: Cli, tmp_path: Path):
    seed(cli)
    png, svg = tmp_path / "demo.png", tmp_path / "demo.svg"
    assert cli("report", "demo", "--chart", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert cli("report", "demo", "--chart", str(svg)).exit_code == 0
    drawing = svg.read_text()
    assert "<svg" in drawing and "views (impressions)" in drawing
    assert cli("report", "demo", "--chart", str(tmp_path / "demo.gif")).exit_code == 2


def test_the_chart_marks_each_snapshot_and_names_a_post_by_its_words_and_time(
    cli: Cli, tmp_path: Path
):
    seed(cli)
    whole, one = tmp_path / "demo.svg", tmp_path / "rally.svg"
    assert cli("report", "demo", "--chart", str(whole)).exit_code == 0
    drawing = parse_svg(whole.read_text())
    # X and Facebook read at 1 h and 24 h: 4 interaction points, 2 of X's views;
    # Facebook gives no views, so it has no views line (not a line at 0).
    assert len(markers(drawing)) == 6
    assert "Facebook: views not available" in whole.read_text()
    assert cli("report", "demo", "--post", "rally", "--chart", str(one)).exit_code == 0
    title = parse_svg(one.read_text())[0].text or ""
    assert title == "Demo day / “Rally” · Sun 1 Nov 09:00: engagement"


def test_an_unknown_campaign_is_named(cli: Cli):
    seed(cli)
    result = cli("report", "nope")
    assert result.exit_code == 1 and "no campaign 'nope'" in result.output


def test_plan_shows_the_projected_cost_and_sets_the_cap_and_sampling(cli: Cli):
    seed(cli)
    result = cli("engagement", "plan", "demo", "--cap", "2.5", "--sample", "50")
    assert result.exit_code == 0, result.output
    assert "X posts planned: 1; billable reads: 4" in result.output
    assert "projected X read cost: $0.02" in result.output
    assert "cap: $2.50" in result.output and "at most 50 posts" in result.output
    result = cli("engagement", "plan", "demo", "--no-cap", "--sample", "0")
    assert "cap: none" in result.output and "sampling: off" in result.output
    assert cli("engagement", "plan", "demo", "--sample", "1").exit_code == 2


def test_refresh_reads_the_sandbox_named_in_the_settings(cli: Cli):
    assert cli("deliveries", "list").exit_code == 0
    with running_sandbox() as sandbox:
        with cli.config.open("a") as config:
            config.write(f"SANDBOX_URL={sandbox.url}\n")
        user = sandbox.admin.create_x_user("rally", followers=3000)
        runtime = cli.runtime()
        sandboxed = runtime.with_sandbox(sandbox.url, sandbox.admin.app())
        creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
        published = sandboxed.platforms["x"].publish(creds, "See you at the rally")
        with runtime.sessions() as session:
            campaign = Campaign(slug="demo", title="Demo", timezone="UTC")
            account = Account(
                platform="x",
                handle="rally",
                platform_user_id=user["id"],
                credentials=runtime.vault.seal(creds),
            )
            session.add_all([campaign, account])
            session.flush()
            post = Post(
                campaign_id=campaign.id,
                key="rally",
                parts={"x": ["See you at the rally"]},
                scheduled_at=datetime.now(UTC),
                timezone="UTC",
                targets=["x"],
            )
            session.add(post)
            session.flush()
            session.add(
                Delivery(
                    post_id=post.id,
                    account_id=account.id,
                    platform="x",
                    state=DeliveryState.SENT,
                    due_at=datetime.now(UTC),
                    sent_at=datetime.now(UTC),
                    platform_ids=[published.platform_id],
                )
            )
            session.commit()
        sandbox.admin.advance_clock(6 * 3600)
        result = cli("engagement", "refresh", "demo")
        assert result.exit_code == 0, result.output
        assert "1 read" in result.output
        data = json.loads(cli("report", "demo", "--json").output)
        assert data["total"]["metrics"]["likes"]["value"] > 0
