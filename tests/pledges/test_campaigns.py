"""Pledge campaigns from schedule files and the CLI: checked, stored once, edited while open."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.schedules.files import load_files
from bot.campaigns.schedules.pledge_campaigns import KEYS, load_pledge_files
from bot.campaigns.specs import SpecError
from bot.pledges.campaigns import PledgeCampaignSpec, apply_campaigns, check_spec
from bot.pledges.pledging import find_campaign
from bot.storage.models import GoalPolicy, PledgeCampaign, PledgeCampaignState
from tests.support.pledge_files import GOOD, write
from tests.support.pledges import RELEASE, Pledger, make_campaign

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
PLEDGING_OPEN = RELEASE - timedelta(days=2)  # make_campaign's campaigns take pledges
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


def test_a_very_long_campaign_text_is_refused_without_counting_it() -> None:
    text = "word " * 12_000
    spec = PledgeCampaignSpec(
        slug="fujitsu",
        title="Fujitsu",
        message={"x": text, "facebook": "Stand with the reps"},
        goal=5,
        release_at=RELEASE,
        timezone="Europe/London",
    )
    started = time.perf_counter()
    [problem] = check_spec(spec)
    assert time.perf_counter() - started < 0.2
    assert problem.field == "text.x"
    assert "is 60,000 characters; X allows 280" in problem.message


def test_a_long_variant_after_a_broken_one_is_named_by_its_own_number_and_line(
    tmp_path: Path,
) -> None:
    bad = GOOD.replace(
        'variants: ["Reinstate the Fujitsu reps now."]',
        "variants:\n      - {not: text}\n      - " + "a" * 300,
    )
    path = write(tmp_path, bad)
    with pytest.raises(SpecError) as caught:
        load_pledge_files([path], default_timezone="UTC")
    where = {(p.field, p.where.line) for p in caught.value.problems}
    assert ("pledge_campaigns[1].variants[2]", 11) in where, where
    assert ("pledge_campaigns[1].variants[1]", 10) in where
    assert not any(
        "variant" in p.message and p.where.line == 10 and "characters" in p.message
        for p in caught.value.problems
    )


def _x_only(link: str | None = "https://union.org.uk/fujitsu") -> PledgeCampaignSpec:
    return PledgeCampaignSpec(
        slug="a", title="Defend the union at Fujitsu", message={"x": "new X text"}, goal=1,
        release_at=RELEASE, timezone="Europe/London", description="Stop it", link=link,
        goal_policy="release_anyway", window_minutes=0,
    )  # fmt: skip


def test_a_platform_with_live_pledges_cannot_be_dropped_from_a_campaign(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, "a", goal=1, policy="release_anyway")
    pledge_factory("a", "p1", platform="facebook")
    with sessions() as s, pytest.raises(SpecError) as info:
        apply_campaigns(s, [_x_only()], now=PLEDGING_OPEN, default_window=0)
    assert "1 supporters pledged on Facebook" in str(info.value)
    with sessions() as s:
        pc = find_campaign(s, "a")
        assert pc is not None and set(pc.message) == {"x", "facebook"}


def test_a_new_link_that_no_longer_fits_a_supporters_wording_is_refused(
    sessions: sessionmaker[Session], pledge_factory: Pledger
) -> None:
    with sessions() as s:
        make_campaign(s, "a", goal=1, policy="release_anyway", link=None)
    pledge_factory("a", "1", wording="w" * 270)  # fits X without a link
    long_link = "https://union.org.uk/" + "f" * 40
    with sessions() as s, pytest.raises(SpecError) as info:
        spec = _x_only(long_link)
        apply_campaigns(
            s,
            [replace(spec, message={"x": "t", "facebook": "f"})],
            now=PLEDGING_OPEN,
            default_window=0,
        )
    assert "own wordings on X would no longer fit" in str(info.value)


def test_a_bluesky_card_link_the_lexicon_refuses_is_a_problem_of_the_campaign() -> None:
    spec = PledgeCampaignSpec(
        slug="fujitsu",
        title="Fujitsu",
        message={"bluesky": "Stand with the reps"},
        goal=5,
        release_at=RELEASE,
        timezone="Europe/London",
        link="https://union.org.uk/fujitsu?ref=" + "a" * 8200,  # over the lexicon's 8 KB URI
    )
    problems = check_spec(spec)
    assert any(
        "external.uri" in p.message and "would be refused by Bluesky" in p.message for p in problems
    ), problems
    assert check_spec(replace(spec, link="https://union.org.uk/fujitsu")) == []
