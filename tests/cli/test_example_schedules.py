"""The example schedules shipped in schedules/ apply as the README shows, whatever the
date: today, in 200 days, in two years."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.campaigns.schedules.applying import apply_schedules
from bot.campaigns.schedules.files import discover
from bot.campaigns.schedules.sources import read_files

SHIPPED = discover(Path(__file__).resolve().parents[2] / "schedules")


def test_the_shipped_examples_apply_today_as_the_readme_shows(with_accounts):
    assert len(SHIPPED) == 3
    result = with_accounts("apply", *map(str, SHIPPED))
    assert result.exit_code == 0, result.output
    assert "posts were created" in result.output


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(days=200), timedelta(days=730)])
def test_the_shipped_examples_apply_with_the_clock_moved_ahead(with_accounts, ahead):
    runtime = with_accounts.runtime()
    with runtime.sessions() as session:
        outcome = apply_schedules(
            session,
            read_files(SHIPPED),
            now=datetime.now(UTC) + ahead,
            default_timezone="Europe/London",
            default_window=10,
            dry_run=False,
        )
        session.commit()
    assert outcome.posts.created and not outcome.posts.skipped
