"""`pledges create/edit` keep what the volunteer did not mention, and refuse what Clarion
cannot do or would post wrongly."""

from __future__ import annotations

from bot.pledges.pledging import find_campaign
from tests.support.cli import SOON, Cli, create


def _platforms(cli: Cli, slug: str = "fujitsu-demo") -> dict[str, str]:
    with cli.runtime().sessions() as s:
        pc = find_campaign(s, slug)
        assert pc is not None
        return dict(pc.message)


def test_editing_the_text_of_an_x_only_campaign_keeps_it_x_only(cli: Cli) -> None:
    create(cli, "fujitsu-demo", "--platforms", "x")
    result = cli("pledges", "edit", "fujitsu-demo", "--text", "A better text")
    assert result.exit_code == 0, result.output
    assert _platforms(cli) == {"x": "A better text"}


def test_editing_the_platforms_alone_keeps_the_texts_of_those_left(cli: Cli) -> None:
    create(cli)
    assert set(_platforms(cli)) == {"x", "facebook"}
    result = cli("pledges", "edit", "fujitsu-demo", "--platforms", "x")
    assert result.exit_code == 0, result.output
    assert set(_platforms(cli)) == {"x"}


def test_adding_a_platform_without_its_text_is_refused(cli: Cli) -> None:
    create(cli, "fujitsu-demo", "--platforms", "x")
    result = cli("pledges", "edit", "fujitsu-demo", "--platforms", "x,facebook")
    assert result.exit_code != 0 and "no text for facebook" in result.output
    assert set(_platforms(cli)) == {"x"}


def test_a_link_that_is_not_a_web_address_is_refused_on_the_command_line(cli: Cli) -> None:
    result = cli(
        "pledges", "create", "ok3", "--title", "t", "--text", "x", "--goal", "1",
        "--release", f"{SOON:%Y-%m-%d %H:%M}", "--link", "not a url",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "must be a web address starting with https://" in result.output
    with cli.runtime().sessions() as s:
        assert find_campaign(s, "ok3") is None


def test_release_status_gives_the_release_time_in_the_campaigns_time_zone(cli: Cli) -> None:
    # 08:30 in London in summer is 07:30 UTC: a volunteer must not read "07:30" and think
    # the release went an hour early.
    result = cli(
        "pledges", "create", "summer-demo",
        "--title", "Summer demo", "--text", "Stand with the reps", "--goal", "2",
        "--release", "2099-07-01 08:30", "--tz", "Europe/London",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    status = cli("release", "status", "summer-demo", "--once").output
    assert "release 2099-07-01 08:30:00 BST" in status, status
