"""`report` on make run's defaults: the growth table in sandbox time, one post alone."""

from __future__ import annotations

from tests.support.cli import Cli, seed


def test_the_report_shows_growth_per_snapshot_in_sandbox_time_on_make_runs_defaults(cli: Cli):
    seed(cli)  # snapshots 1h and 24h of an X and a Facebook post
    result = cli("report", "demo")
    assert result.exit_code == 0, result.output
    assert "growth in sandbox time" in result.output and "1000x faster" in result.output
    lines = {line.split("  ")[0]: line.split() for line in result.output.splitlines()}
    assert lines["after 1h"][2:4] == ["2", "20"]  # posts, likes: 10 + 10
    assert lines["after 24h"][2:4] == ["2", "60"]
    assert "still going" in result.output


def test_the_report_can_be_of_one_post_and_names_a_post_it_does_not_know(cli: Cli):
    seed(cli)
    data = cli.json("report", "demo", "--post", "rally")
    assert data["total"]["sent"] == 2 and data["clock_acceleration"] == 1000
    assert data["note"] is None  # no pledge posts left without figures
    assert [s["label"] for s in data["growth"]] == ["1h", "24h"]
    missing = cli("report", "demo", "--post", "nope")
    assert missing.exit_code == 1 and "has no post 'nope'" in missing.output


def test_the_plan_says_when_the_snapshots_come_on_the_accelerated_sandbox(cli: Cli):
    seed(cli)
    result = cli("engagement", "plan", "demo")
    assert result.exit_code == 0, result.output
    assert "1000x faster than real time" in result.output
    assert "7d after 10.1 min" in result.output
    assert "billable reads: 4" in result.output  # the real X's cost, not the sandbox's
