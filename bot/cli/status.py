"""`status`: which Clarion processes run on this database, from their heartbeats.

Every process that sends or plans — the single-machine daemon, each scaled-out scheduler
(active or standing by) and each worker — writes a heartbeat row (bot/delivery/heartbeat.py);
this lists those of the last day, newest beat first, so a worker that died shows as one
whose beats stopped. On PostgreSQL it also counts the workers holding a lease now, which
PostgreSQL ends the moment a worker's connection closes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from bot.cli.context import AppContext, pass_app
from bot.cli.output import emit_json, local, plural, table
from bot.delivery import heartbeat, leases


def _ago(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON for scripts.")
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """List the daemons, schedulers and workers on this database and their last heartbeat.

    A process that stopped cleanly says "stopped"; one silent for three beats (45 s, or
    three polls) was killed, hung or lost its machine: a dead worker's claims are settled
    by the active scheduler and looked for on the platform before any resend.
    """
    now = datetime.now(UTC)
    silent = heartbeat.silent_after(app.settings.poll_interval_seconds)
    with app.runtime.sessions() as session:
        members = heartbeat.members(session, now)
    leased = None
    if app.runtime.engine.dialect.name == "postgresql":
        leased = leases.live_workers(app.runtime.engine)
    standings = [(m, m.standing(now, silent)) for m in members]
    if as_json:
        emit_json(
            {
                "processes": [
                    {
                        "role": str(m.kind),
                        "name": m.name,
                        "state": str(s),
                        "started_at": m.started_at,
                        "last_beat_at": m.beat_at,
                        "last_beat_age_seconds": round((now - m.beat_at).total_seconds(), 1),
                        "stopped_at": m.stopped_at,
                    }
                    for m, s in standings
                ],
                "workers_holding_a_lease": leased,
            }
        )
        return
    tz = app.settings.timezone

    def state(member: heartbeat.Member, standing: heartbeat.Standing) -> str:
        if standing is heartbeat.Standing.STOPPED and member.stopped_at is not None:
            return f"stopped {local(member.stopped_at, tz)}"
        if standing is heartbeat.Standing.SILENT:
            return "SILENT: dead or hung?"
        return "running"

    table(
        (
            (str(m.kind), m.name, local(m.started_at, tz), _ago(now - m.beat_at), state(m, s))
            for m, s in standings
        ),
        ["role", "name", "started", "last beat", "state"],
        empty="no Clarion process has run on this database in the last day: start one with "
        "`python main.py run`",
    )
    beating = [m for m, s in standings if s is heartbeat.Standing.BEATING]
    counts = {kind: sum(m.kind is kind for m in beating) for kind in heartbeat.Kind}
    silent_ones = sum(s is heartbeat.Standing.SILENT for _, s in standings)
    summary = [
        plural(counts[heartbeat.Kind.DAEMON], "daemon"),
        plural(counts[heartbeat.Kind.SCHEDULER], "scheduler"),
        plural(counts[heartbeat.Kind.WORKER], "worker"),
    ]
    click.echo(f"\nrunning: {', '.join(summary)}")
    if leased is not None:
        click.echo(f"holding a worker's lease now: {plural(leased, 'worker')}")
    if silent_ones:
        click.echo(
            f"{plural(silent_ones, 'process', 'processes', verb='has')} stopped beating "
            f"without saying it stopped (no beat for {silent.total_seconds():.0f} s): look "
            "at its log and its supervisor",
            err=True,
        )
