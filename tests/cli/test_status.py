"""`status`: the processes on this database from their heartbeats, so a dead worker shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.delivery import heartbeat
from bot.delivery.heartbeat import Kind
from tests.support.cli import Cli


def beat(cli: Cli, kind: Kind, name: str, *, ago: float, stopped: bool = False) -> None:
    runtime = cli.runtime()
    holder = heartbeat.holder(kind, name)
    at = datetime.now(UTC) - timedelta(seconds=ago)
    assert heartbeat.beat(runtime.sessions, holder, at)
    if stopped:
        heartbeat.stopped(runtime.sessions, holder, at)
    runtime.close()


def test_status_lists_schedulers_and_workers_with_their_last_beat_and_flags_a_silent_one(
    cli: Cli,
) -> None:
    beat(cli, Kind.SCHEDULER, "host-a:10", ago=2)
    beat(cli, Kind.SCHEDULER, "host-b:11", ago=3)
    beat(cli, Kind.WORKER, "host-a:20", ago=1)
    beat(cli, Kind.WORKER, "host-b:21", ago=300)  # SIGKILLed five minutes ago
    beat(cli, Kind.WORKER, "host-c:22", ago=600, stopped=True)

    result = cli("status")

    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if ":" in line[:30]}
    assert lines["host-a:20"].startswith("worker") and "running" in lines["host-a:20"]
    assert "SILENT" in lines["host-b:21"] and "5 min ago" in lines["host-b:21"]
    assert "stopped" in lines["host-c:22"] and "SILENT" not in lines["host-c:22"]
    assert lines["host-a:10"].startswith("scheduler") and "running" in lines["host-a:10"]
    assert "running: 0 daemons, 2 schedulers, 1 worker" in result.output
    assert "1 process has stopped beating" in result.output


def test_status_as_json_names_each_process_role_and_state(cli: Cli) -> None:
    beat(cli, Kind.WORKER, "host-a:20", ago=1)
    beat(cli, Kind.DAEMON, "host-z:1", ago=200)

    data = cli.json("status")

    by_name = {p["name"]: p for p in data["processes"]}
    assert by_name["host-a:20"]["role"] == "worker" and by_name["host-a:20"]["state"] == "beating"
    assert by_name["host-z:1"]["role"] == "daemon" and by_name["host-z:1"]["state"] == "silent"
    on_postgres = "DATABASE_URL=postgresql" in cli.config.read_text()
    # No worker runs here, so none holds a lease; SQLite has no leases at all.
    assert data["workers_holding_a_lease"] == (0 if on_postgres else None)


def test_status_on_a_database_nothing_ever_ran_on_says_how_to_start(cli: Cli) -> None:
    assert cli("deliveries", "list").exit_code == 0  # migrates
    result = cli("status")
    assert "no Clarion process has run on this database" in result.output
    assert "running: 0 daemons, 0 schedulers, 0 workers" in result.output
