"""Pledge campaigns from schedule files and the CLI: checked, stored once, edited while open."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.schedules.files import load_files
from bot.campaigns.schedules.pledge_campaigns import KEYS, load_pledge_files
from bot.campaigns.specs import SpecError
from bot.pledges.campaigns import apply_campaigns
from bot.storage.models import GoalPolicy, PledgeCampaign, PledgeCampaignState
from tests.support.pledge_files import GOOD, write

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]


def test_a_pledge_campaign_is_read_from_a_schedule_file(tmp_path: Path) -> None:
    [spec] = load_pledge_files([write(tmp_path, GOOD)], default_timezone="UTC")
    assert spec.slug == "fujitsu-demo-morning"
    assert spec.release_at == datetime(2027, 3, 9, 8, 30, tzinfo=UTC)  # GMT in March
    assert spec.goal_policy == GoalPolicy.RELEASE_ANYWAY and spec.window_minutes == 0
    assert set(spec.message) == {"x", "facebook"} and spec.variants == (
        "Reinstate the Fujitsu reps now.",
    )
    # `apply` accepts a file that holds only pledge campaigns
    assert load_files([tmp_path / "pledge.yaml"], default_timezone="UTC") == []


def test_problems_name_the_file_line_and_field(tmp_path: Path) -> None:
    bad = (
        GOOD.replace("goal: 500", "goal: lots")
        .replace("if_goal_missed: release anyway", "if_goal_missed: maybe")
        .replace("window: 0", "windw: 0")
    )
    path = write(tmp_path, bad)
    with pytest.raises(SpecError) as caught:
        load_pledge_files([path], default_timezone="UTC")
    shown = [str(p) for p in caught.value.problems]
    assert any(s.startswith(f"{path}:11: pledge_campaigns[1].goal='lots'") for s in shown)
    assert any(f"{path}:13: pledge_campaigns[1].if_goal_missed='maybe'" in s for s in shown)
    assert any("unknown setting 'windw'; did you mean 'window'?" in s for s in shown)
    # and `apply` refuses the same file with the same problems
    with pytest.raises(SpecError) as again:
        load_files([path], default_timezone="UTC")
    assert len(again.value.problems) == len(shown)


def test_a_text_too_long_with_the_link_is_refused_at_its_line(tmp_path: Path) -> None:
    long = GOOD.replace(
        '"Fujitsu: stop victimising union reps. #DefendTheUnion"', '"' + "a" * 257 + '"'
    )
    path = write(tmp_path, long)
    with pytest.raises(SpecError) as caught:
        load_pledge_files([path], default_timezone="UTC")
    [problem] = caught.value.problems
    assert (problem.where.line, problem.field) == (7, "pledge_campaigns[1].text.x")
    assert "with the link" in problem.message and "shorten by 1" in problem.message


def test_campaigns_are_created_once_and_updated_while_open(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    specs = load_pledge_files([write(tmp_path, GOOD)], default_timezone="UTC")
    with sessions() as s:
        first = apply_campaigns(s, specs, now=NOW, default_window=10)
        again = apply_campaigns(s, specs, now=NOW, default_window=10)
    assert (first.created, again.unchanged) == (["fujitsu-demo-morning"], ["fujitsu-demo-morning"])
    changed = load_pledge_files(
        [write(tmp_path, GOOD.replace("goal: 500", "goal: 600"))], default_timezone="UTC"
    )
    with sessions() as s:
        assert apply_campaigns(s, changed, now=NOW, default_window=10).updated
        pc = s.scalars(select(PledgeCampaign)).one()
        assert pc.goal == 600 and pc.window_minutes == 0
        pc.state = PledgeCampaignState.RELEASING
        s.commit()
        kept = apply_campaigns(s, specs, now=NOW, default_window=10)
    assert kept.kept == ["fujitsu-demo-morning"] and "not applied" in kept.notes[0]


def test_a_release_time_in_the_past_is_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    specs = load_pledge_files([write(tmp_path, GOOD)], default_timezone="UTC")
    with sessions() as s, pytest.raises(SpecError) as caught:
        apply_campaigns(s, specs, now=datetime(2027, 3, 10, tzinfo=UTC), default_window=10)
    [problem] = caught.value.problems
    assert problem.field == "release" and problem.where.line == 12


def test_every_pledge_campaign_setting_is_documented() -> None:
    doc = (REPO / "docs" / "schedule-files.md").read_text(encoding="utf-8")
    for key in KEYS:
        assert f"| `{key}` |" in doc, key
