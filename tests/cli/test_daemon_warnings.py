"""Queueing without a daemon says nothing will post until one runs, and how to start one;
`web` beside a running daemon says the daemon already serves the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.cli.context import AppContext
from bot.cli.daemon import page_server_last_seen
from bot.storage.models import DaemonHeartbeat

SCHEDULE = f"""\
campaign: demo
timezone: Europe/London
posts:
  - id: ok
    at: {(datetime.now(UTC) + timedelta(days=3)):%Y-%m-%d} 10:00
    to: [x]
    text: Fine
"""
NO_DAEMON = "warning: no daemon is running on this database"


def beat(
    cli,
    age: timedelta = timedelta(seconds=5),
    *,
    stopped: bool = False,
    holder: str = "host:1",
) -> None:
    """A heartbeat, ``age`` old, as a running daemon writes it (and as a daemon stopped
    cleanly leaves it, with ``stopped``); ``holder`` names a scheduler or worker of a
    scaled-out Clarion as ``scheduler host:pid`` or ``worker host:pid``."""
    at = datetime.now(UTC) - age
    with cli.runtime().sessions() as session:
        session.add(
            DaemonHeartbeat(
                holder=holder, started_at=at, beat_at=at, stopped_at=at if stopped else None
            )
        )
        session.commit()


def test_posts_add_without_a_daemon_says_how_to_start_one(with_accounts):
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert result.exit_code == 0, result.output
    assert NO_DAEMON in result.output
    assert "`make run` or `python main.py run`" in result.output


def test_apply_without_a_daemon_says_how_to_start_one(with_accounts, tmp_path: Path):
    path = tmp_path / "demo.yaml"
    path.write_text(SCHEDULE)
    assert NO_DAEMON not in with_accounts("apply", "--dry-run", str(path)).output
    result = with_accounts("apply", str(path))
    assert result.exit_code == 0 and NO_DAEMON in result.output


def test_a_daemon_silent_for_three_beats_counts_as_none(with_accounts):
    beat(with_accounts, age=timedelta(seconds=50))
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert NO_DAEMON in result.output


def test_a_daemon_stopped_cleanly_a_moment_ago_counts_as_none_at_once(with_accounts):
    beat(with_accounts, age=timedelta(seconds=2), stopped=True)
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert NO_DAEMON in result.output


def test_no_warning_while_a_daemon_is_running(with_accounts, tmp_path: Path):
    beat(with_accounts)
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert result.exit_code == 0 and "warning" not in result.output
    path = tmp_path / "demo.yaml"
    path.write_text(SCHEDULE)
    assert "warning" not in with_accounts("apply", str(path)).output


def test_a_daemon_stopped_after_another_was_killed_counts_as_none_at_once(with_accounts):
    # The first daemon was killed (its last beat 30 s old, no word of a stop); the one
    # started after it was stopped with Ctrl-C 10 s ago. One daemon runs at a time, so
    # the killed one's recent beat says nothing about now.
    beat(with_accounts, timedelta(seconds=30), holder="host:100")
    beat(with_accounts, timedelta(seconds=10), stopped=True, holder="host:200")
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert NO_DAEMON in result.output


def test_a_standby_scheduler_still_beating_counts_as_running_though_another_stopped_since(
    with_accounts,
):
    # Scaled out: the active scheduler was stopped a moment ago (its row beat last), the
    # standby that takes over beat 10 s ago. Something is still planning posts.
    beat(with_accounts, timedelta(seconds=10), holder="scheduler host-a:1")
    beat(with_accounts, timedelta(seconds=1), stopped=True, holder="scheduler host-b:2")
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert result.exit_code == 0 and "warning" not in result.output


def test_a_worker_beating_alone_is_no_daemon_and_serves_no_pages(with_accounts):
    beat(with_accounts, holder="worker host-c:3")
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x", "Demo at 8:30")
    assert NO_DAEMON in result.output
    # A worker serves no campaign pages, so `web` is not refused beside one; a daemon is.
    assert page_server_last_seen(AppContext(with_accounts.config)) is None
    beat(with_accounts, holder="host:4")
    assert page_server_last_seen(AppContext(with_accounts.config)) is not None


def test_web_beside_a_running_daemon_says_the_daemon_already_serves_the_pages(cli):
    beat(cli)
    result = cli("web")
    assert result.exit_code == 1
    assert "a daemon is running on this database" in result.output
    assert "already serves the campaign pages at http://127.0.0.1:8080" in result.output
    # on the sandbox, a second copy needs the daemon's sandbox, never one of its own
    assert "SANDBOX_URL=http://127.0.0.1:8700 python main.py web --port" in result.output
    assert "Set SANDBOX_PORT" not in result.output


def test_posts_add_before_the_first_run_says_that_run_adds_the_campaigns_accounts(cli):
    # A newcomer's order: init, then posts add, before `run` has added the sandbox's (or
    # config.env's) accounts. The advice must name what adds them.
    result = cli("posts", "add", "--in", "5m", "--to", "x", "hello")
    assert result.exit_code != 0
    assert "the campaign has no x account yet" in result.output
    assert "`python main.py run`" in result.output
    assert "`python main.py accounts sync`" in result.output
