"""The example schedules shipped in schedules/ apply as the README shows, whatever the
date: today, in 200 days, in two years (their days count from the apply date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.campaigns.schedules.applying import apply_schedules
from bot.campaigns.schedules.files import discover
from bot.campaigns.schedules.sources import read_files
from bot.storage.models import Post
from tests.support.factories import add_account

LONDON = ZoneInfo("Europe/London")

SHIPPED = discover(Path(__file__).resolve().parents[2] / "schedules")


@pytest.fixture
def on_every_network(with_accounts):
    """The CLI with the campaign's accounts on all four networks, as `make run` makes
    them on the sandbox (the examples' eve-of-demo post goes to each)."""
    runtime = with_accounts.runtime()
    add_account(runtime.sessions, runtime.vault, "bluesky", "union.bsky.social")
    add_account(runtime.sessions, runtime.vault, "mastodon", "union@union.social")
    return with_accounts


def test_the_shipped_examples_apply_today_as_the_readme_shows(on_every_network):
    assert len(SHIPPED) == 3
    result = on_every_network("apply", *map(str, SHIPPED))
    assert result.exit_code == 0, result.output
    assert "posts were created" in result.output


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(days=200), timedelta(days=730)])
def test_the_shipped_examples_apply_with_the_clock_moved_ahead(on_every_network, ahead):
    runtime = on_every_network.runtime()
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
    # Their days count from the apply date: the ballot result at noon, London time, two
    # weeks after it.
    applied = (datetime.now(UTC) + ahead).astimezone(LONDON).date()
    with runtime.sessions() as session:
        result = session.scalar(select(Post).where(Post.key == "result-thread"))
        assert result is not None
        at = result.scheduled_at.astimezone(LONDON)
        assert (at.date() - applied, at.hour, at.minute) == (timedelta(days=14), 12, 0)
        held = session.scalar(select(Post).where(Post.key == "weekend-push"))
        assert held is not None and held.hold_on_facebook
        eve = session.scalar(select(Post).where(Post.key == "demo-eve"))
        assert eve is not None and set(eve.parts) == {"x", "facebook", "bluesky", "mastodon"}
