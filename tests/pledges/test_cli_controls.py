"""`release hold|resume|cancel|stop` through click's runner: the controls' own words,
confirmation unless --yes, an audit row as cli:<os user>."""

from __future__ import annotations

from sqlalchemy import select

from bot.pledges.pledging import find_campaign
from bot.storage.models import AuditEntry, PledgeCampaignState
from tests.support.cli import Cli, create


def state(cli: Cli) -> str:
    with cli.runtime().sessions() as s:
        pc = find_campaign(s, "fujitsu-demo")
        assert pc is not None
        return str(pc.state)


def test_hold_then_resume_at_a_new_time(cli: Cli) -> None:
    create(cli)
    held = cli("release", "hold", "fujitsu-demo")
    assert held.exit_code == 0 and "on hold" in held.output
    assert state(cli) == PledgeCampaignState.HELD
    again = cli("release", "hold", "fujitsu-demo")
    assert again.exit_code == 1 and "already on hold" in again.output
    resumed = cli("release", "resume", "fujitsu-demo", "--release", "2031-03-09 08:30")
    assert resumed.exit_code == 0, resumed.output
    assert "2031-03-09 08:30:00" in resumed.output
    assert state(cli) == PledgeCampaignState.OPEN
    with cli.runtime().sessions() as s:
        rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [r.action for r in rows] == ["pledge_campaign.create", "release.hold", "release.resume"]
    assert all(r.actor.startswith("cli:") for r in rows)


def test_cancel_asks_first_and_a_no_changes_nothing(cli: Cli) -> None:
    create(cli)
    refused = cli("release", "cancel", "fujitsu-demo", input="n\n")
    assert refused.exit_code == 1 and state(cli) == PledgeCampaignState.OPEN
    done = cli("release", "cancel", "fujitsu-demo", "--yes")
    assert done.exit_code == 0 and "nothing is posted" in done.output
    assert state(cli) == PledgeCampaignState.CANCELLED


def test_stop_before_the_release_says_what_to_do_instead(cli: Cli) -> None:
    create(cli)
    result = cli("release", "stop", "fujitsu-demo", "--yes")
    assert result.exit_code == 1
    assert "only a release in progress can be stopped (before it starts, hold or cancel it)" in (
        result.output
    )
