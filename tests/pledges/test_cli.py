"""`pledges` and `release` commands, through click's runner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import add_pledge, find_campaign
from tests.support.cli import SOON, Cli, create


def pledge(cli: Cli, slug: str, user: str) -> None:
    runtime = cli.runtime()
    with runtime.sessions() as s:
        pc = find_campaign(s, slug)
        assert pc is not None
        add_pledge(
            s,
            runtime.vault,
            pc,
            "x",
            Credentials(f"t{user}", f"s{user}", user),
            AccountInfo(user, f"h{user}", "n", 10),
            now=datetime.now(UTC),
        )


def test_create_then_show_as_json_has_progress_rules_and_cost(cli: Cli) -> None:
    create(cli)
    pledge(cli, "fujitsu-demo", "1")
    data = cli.json("pledges", "show", "fujitsu-demo")
    assert isinstance(data, dict)
    assert (data["pledged"], data["goal"], data["pledged_reach"]) == (1, 2, 10)
    assert data["rules"]["cost_usd"] == 0.2 and data["rules"]["go_at_release"] == 1
    assert data["window_minutes"] == 10  # RELEASE_WINDOW_MINUTES default
    text = cli("pledges", "show", "fujitsu-demo").output
    assert "pledged: 1 of 2" in text and "estimated X cost: $0.20" in text


def test_a_campaign_can_offer_mastodon_with_its_own_wording(cli: Cli) -> None:
    create(
        cli, "fujitsu-fedi", "--platforms", "x,mastodon", "--mastodon-text", "Toot: stand with us"
    )
    data = cli.json("pledges", "show", "fujitsu-fedi")
    assert isinstance(data, dict)
    assert data["message"] == {
        "x": "Fujitsu: stop victimising union reps. #DefendTheUnion",
        "mastodon": "Toot: stand with us",
    }
    refused = cli(
        "pledges", "create", "too-long-toot", "--title", "T", "--platforms", "mastodon",
        "--text", "a" * 501, "--goal", "2", "--release", "2030-01-01 10:00",
    )  # fmt: skip
    assert refused.exit_code != 0 and "Mastodon" in refused.output and "500" in refused.output


def test_edit_changes_only_what_is_given(cli: Cli) -> None:
    create(cli)
    result = cli("pledges", "edit", "fujitsu-demo", "--goal", "300", "--window", "0")
    assert result.exit_code == 0 and "updated: fujitsu-demo" in result.output
    data = cli.json("pledges", "show", "fujitsu-demo")
    assert isinstance(data, dict)
    assert (data["goal"], data["window_minutes"], data["title"]) == (
        300,
        0,
        "Defend the union at Fujitsu",
    )


def test_a_too_long_text_is_refused_and_nothing_is_stored(cli: Cli) -> None:
    result = cli(
        "pledges", "create", "too-long", "--title", "T", "--text", "a" * 300,
        "--goal", "2", "--release", f"{SOON:%Y-%m-%d %H:%M}",
    )  # fmt: skip
    assert result.exit_code != 0 and "shorten by 20" in result.output
    assert cli.json("pledges", "list") == []


def test_pledges_apply_stores_campaigns_from_the_schedule_files(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "p.yaml").write_text(
        "campaign: fujitsu\npledge_campaigns:\n  - id: morning\n    title: Morning\n"
        f"    text: Stop it\n    goal: 5\n    release: {SOON:%Y-%m-%d %H:%M} +00:00\n",
        encoding="utf-8",
    )
    result = cli("pledges", "apply")
    assert result.exit_code == 0 and "created: morning" in result.output, result.output
    [row] = cli.json("pledges", "list")  # type: ignore[misc]
    assert row["slug"] == "morning" and row["goal"] == 5


def test_release_status_counts_in_json_and_check_says_what_goes(cli: Cli) -> None:
    create(cli, "fujitsu-demo", "--window", "0")
    assert cli.json("release", "status", "fujitsu-demo") == {
        "campaign": "fujitsu-demo",
        "state": "open",
        "release_at": SOON.replace(second=0, microsecond=0).isoformat(),
        "total": 0,
        "done": 0,
        "sent": 0,
        "by_state": {},
        "by_platform": {},
        "needs_reconnect": 0,
        "last_sent_at": None,
    }
    for user in "12":
        pledge(cli, "fujitsu-demo", user)
    checked = cli("release", "check", "fujitsu-demo").output
    assert "2 would go at the release" in checked and "no rule is in the way" in checked
    assert "X: 2 posts, all at the release time" in checked
    as_json = cli.json("release", "check", "fujitsu-demo")
    assert isinstance(as_json, dict)
    assert (as_json["window_minutes"], as_json["release_minutes"]) == (0, 0)
    assert as_json["durations"] == [
        {
            "platform": "x",
            "posts": 2,
            "minutes": 0,
            "needed_minutes": 0,
            "bound": "window",
            "stretched": False,
        }
    ]
    from bot.pledges.release import release

    runtime = cli.runtime()
    with runtime.sessions() as s:
        pc = find_campaign(s, "fujitsu-demo")
        assert pc is not None
        release(s, pc.id, SOON + timedelta(minutes=1))
    data = cli.json("release", "status", "fujitsu-demo")
    assert isinstance(data, dict)
    assert (data["state"], data["total"], data["by_state"]) == ("releasing", 2, {"pending": 2})
    bar = cli("release", "status", "fujitsu-demo", "--once").output
    assert "0/2 final (2 pending)" in bar
