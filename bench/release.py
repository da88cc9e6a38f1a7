"""A pledge release at scale: 10,000 X accounts and 1,000 Facebook Pages (and, with
--bluesky N, N Bluesky accounts) at one moment.

The sandbox and the daemon run as separate processes (as `make run` would); accounts are
created through the sandbox's admin API and pledged through ``add_pledge`` (what the web
app calls after a sign-in). The campaign's release is then moved a few seconds ahead, with
window 0, and the daemon releases it. Target: every post acknowledged within 15 s.

In the same run: (a) a plain sequential tweepy loop over 200 posts on the same sandbox,
extrapolated to the whole release, and (b) the sandbox's own capacity
(bench/sandbox_capacity.py --quick), the floor any engine is held to.

    .venv/bin/python bench/release.py                      # 10,000 X + 1,000 Pages
    .venv/bin/python bench/release.py --quick              # 1,000 X + 100 Pages
    .venv/bin/python bench/release.py --max-in-flight 500  # DELIVERY_MAX_IN_FLIGHT
    .venv/bin/python bench/release.py --bluesky 5000       # and 5,000 Bluesky accounts
    .venv/bin/python bench/release.py --mastodon 5000      # + Mastodon, on 20 instances

Scaled out (docs/scale-out.md): with ``--workers 1,2,4`` the same release runs, once for
each N, through a scheduler and N worker processes (``run --role scheduler|worker``) on a
throwaway PostgreSQL started from the machine's binaries, each N on a database and a
sandbox of its own. By default 2,000 Facebook Pages, 2,000 Bluesky and 2,000 Mastodon
accounts, the networks without a per-app daily cap. For each N: time to settle, posts/s,
each worker's share and CPU seconds (from /proc/<pid>/stat), and the database's writes
per post (pg_stat_database, pg_stat_user_tables, WAL bytes); exactly once checked
against the sandbox. ``0`` in the list is the single `run` process (``--role all``) on
the same PostgreSQL, for comparison.

    .venv/bin/python bench/release.py --workers 1,2,4      # 6,000 posts for each N
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.support import (  # noqa: E402
    INSTANCES,
    make_accounts,
    move_release,
    percentile,
    pledge_campaign,
)
from bot.delivery import leases  # noqa: E402
from bot.pledges.release import status  # noqa: E402
from bot.sandbox.testing import SandboxAdmin, free_port, start_sandbox_process  # noqa: E402
from bot.storage.models import Delivery, Pledge, PledgeCampaign  # noqa: E402
from tests.support.processes import DaemonProcess, runtime_for, write_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0  # X and Facebook (issue 4)
TARGET_ALL_NETWORKS_S = 20.0  # with Bluesky (and Mastodon) accounts too (issue 13)


def sequential_tweepy(url: str, app: dict[str, Any], users: list[dict[str, str]]) -> float:
    """(a) One tweepy.Client call after another, as a simple script would: seconds/post."""
    import tweepy

    from bot.platforms.http import X_API_ORIGIN, session_for

    session = session_for({X_API_ORIGIN: url}, pool_size=1)
    started = time.monotonic()
    for i, user in enumerate(users):
        client = tweepy.Client(
            consumer_key=app["consumer_key"],
            consumer_secret=app["consumer_secret"],
            access_token=user["token"],
            access_token_secret=user["secret"],
        )
        client.session = session  # the same routing to the sandbox the adapter uses
        client.create_tweet(text=f"Sequential baseline {i}: reinstate the Fujitsu reps")
    return (time.monotonic() - started) / len(users)


def sandbox_capacity() -> str:
    """(b) The sandbox's own measurement, run as its script; its headline line."""
    result = subprocess.run(
        [sys.executable, "bench/sandbox_capacity.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("sandbox_capacity:")]
    return lines[-1] if lines else f"sandbox_capacity failed: {result.stderr[-300:]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x", type=int, help="pledged X accounts (10,000; scaled out: 0)")
    parser.add_argument(
        "--pages", type=int, help="pledged Facebook Pages (1,000; scaled out: 2,000)"
    )
    parser.add_argument(
        "--bluesky", type=int, help="pledged Bluesky accounts (0; scaled out: 2,000)"
    )
    parser.add_argument(
        "--mastodon",
        type=int,
        help=f"pledged Mastodon accounts on {INSTANCES} instances (0; scaled out: 2,000)",
    )
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--concurrency", type=int, default=16, help="DELIVERY_CONCURRENCY")
    parser.add_argument("--max-in-flight", type=int, default=1000, help="DELIVERY_MAX_IN_FLIGHT")
    parser.add_argument("--lead", type=float, help="seconds to the release (20; scaled out: 5)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after (s)")
    parser.add_argument("--quick", action="store_true", help="1,000 X + 100 Pages")
    parser.add_argument("--skip-baselines", action="store_true", help="no (a) and (b)")
    parser.add_argument(
        "--workers",
        type=worker_counts,
        help="scaled out on PostgreSQL: a comma-separated list of worker counts, each run "
        "in turn (e.g. 1,2,4; 0 is the single `run` process on PostgreSQL)",
    )
    args = parser.parse_args()
    scaled = args.workers is not None
    for name, single, scaled_out in (
        ("x", 10_000, 0),
        ("pages", 1_000, 2_000),
        ("bluesky", 0, 2_000),
        ("mastodon", 0, 2_000),
        ("lead", 20.0, 5.0),
    ):
        if getattr(args, name) is None:
            setattr(args, name, scaled_out if scaled else single)
    if args.quick:
        args.x, args.pages = 1_000, 100
    if scaled:
        return scale_out(args)
    total = args.x + args.pages + args.bluesky + args.mastodon
    target = TARGET_ALL_NETWORKS_S if args.bluesky or args.mastodon else TARGET_S

    workdir = Path(tempfile.mkdtemp(prefix="clarion-release-"))
    database = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    sandbox = start_sandbox_process(port, "--x-posts-per-app", "100000000")
    url = f"http://127.0.0.1:{port}"
    admin = SandboxAdmin(url, timeout=60)
    config = release_config(workdir, database, url, args)
    try:
        t0 = time.monotonic()
        accounts = make_accounts(admin, args.x, args.pages, args.bluesky, args.mastodon)
        t_accounts = time.monotonic() - t0
        runtime = runtime_for(config)
        t0 = time.monotonic()
        pc_id = pledge_campaign(runtime, "bench-release", accounts)
        t_pledges = time.monotonic() - t0
        print(
            f"setup: {total} accounts in {t_accounts:.1f} s, pledged in {t_pledges:.1f} s "
            f"({t_pledges / total * 1000:.1f} ms per pledge)",
            flush=True,
        )
        admin.set_latency(args.latency_ms)
        with DaemonProcess(config) as daemon:
            daemon.wait_ready(timeout=60)
            release_at = datetime.now(UTC) + timedelta(seconds=args.lead)
            move_release(runtime, pc_id, release_at)
            print(f"release at {release_at:%H:%M:%S} UTC ({args.lead:.0f} s); waiting…", flush=True)
            deadline = time.monotonic() + args.lead + args.timeout
            last_print = 0.0
            while time.monotonic() < deadline:
                with runtime.sessions() as session:
                    pc_now = session.get(PledgeCampaign, pc_id)
                    assert pc_now is not None
                    st = status(session, pc_now)
                if st.state == "released":
                    break
                if time.monotonic() - last_print > 10:
                    print(f"  {st.done}/{st.total} final {st.by_state}", flush=True)
                    last_print = time.monotonic()
                time.sleep(0.5)
            peak_kib = daemon.peak_memory_kib() or 0
            daemon.terminate(timeout=120)
        with runtime.sessions() as session:
            rows = session.execute(
                select(Delivery.state, Delivery.due_at, Delivery.sending_at, Delivery.sent_at)
                .join(Pledge, Pledge.delivery_id == Delivery.id)
                .where(Pledge.pledge_campaign_id == pc_id)
            ).all()
        sent = [r for r in rows if r.sent_at is not None]
        acked = [(r.sent_at - r.due_at).total_seconds() for r in sent]
        started = [(r.sending_at - r.due_at).total_seconds() for r in rows if r.sending_at]
        first = min(r.sending_at for r in rows if r.sending_at)
        last = max(r.sent_at for r in sent)
        to_last = (last - release_at).total_seconds()
        rate = len(sent) / max(1e-9, (last - first).total_seconds())
        # Exactly once, as the platforms saw it: one post on every pledged account.
        on_timeline = {str(a["id"]): len(a["posts"]) for a in admin.timeline()}
        wrong = sum(on_timeline.get(a["id"], 0) != 1 for a in accounts)
        seq = cap = None
        if not args.skip_baselines:
            app = admin.app()
            seq = sequential_tweepy(url, app, [a for a in accounts if a["platform"] == "x"][:200])
            admin.set_latency(0)
            cap = sandbox_capacity()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(f"\n{'':28}{'p50':>10}{'p99':>10}{'max':>10}")
    for label, values in (("start lateness (s)", started), ("acknowledged after (s)", acked)):
        print(
            f"{label:28}{statistics.median(values):>10.2f}{percentile(values, 99):>10.2f}"
            f"{max(values):>10.2f}"
        )
    print(
        f"sent {len(sent)}/{total}; last acknowledged {to_last:.1f} s after the release "
        f"(target {target:.0f} s); {rate:.0f} posts/s; daemon peak memory "
        f"{peak_kib / 1024:.0f} MiB; DELIVERY_CONCURRENCY={args.concurrency}, "
        f"DELIVERY_MAX_IN_FLIGHT={args.max_in_flight}; sandbox latency "
        f"{args.latency_ms:.0f} ms"
    )
    seq_text = ""
    if seq is not None:
        print(
            f"(a) sequential tweepy loop: {seq * 1000:.0f} ms per post over 200 posts → "
            f"{seq * total:.0f} s for {total} posts"
        )
        print(f"(b) {cap}")
        seq_text = f", sequential tweepy ≈{seq * total:.0f} s"
    print(f"accounts without exactly one post on the sandbox: {wrong}")
    ok = len(sent) == total and wrong == 0 and to_last <= target
    print(
        f"release: {len(sent)}/{total} acknowledged ({wrong} not exactly once), "
        f"last after {to_last:.1f} s "
        f"({'met' if ok else 'MISSED'} {target:.0f} s), ack p50 {statistics.median(acked):.1f} s "
        f"p99 {percentile(acked, 99):.1f} s, {rate:.0f} posts/s, daemon peak "
        f"{peak_kib / 1024:.0f} MiB{seq_text}"
    )
    return 0 if ok else 1


# --- scaled out: a scheduler and N workers on PostgreSQL -----------------------------------

ACTIVE = "is now the active scheduler"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def worker_counts(text_: str) -> list[int]:
    try:
        counts = [int(part) for part in text_.split(",") if part.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 0 for n in counts):
        raise argparse.ArgumentTypeError(
            f"--workers {text_!r}: give worker counts separated by commas, e.g. 1,2,4"
        )
    return counts


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc/<pid>/stat (fields 14 and 15; the
    command name in field 2 may hold spaces, so count from its closing parenthesis)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class DatabaseWrites:
    commits: int  # pg_stat_database.xact_commit: every transaction, read-only ones too
    rows: int  # pg_stat_user_tables: rows inserted, updated and deleted
    wal_bytes: int  # the server's WAL position (this run's database is the only busy one)

    def __sub__(self, other: DatabaseWrites) -> DatabaseWrites:
        return DatabaseWrites(
            self.commits - other.commits, self.rows - other.rows, self.wal_bytes - other.wal_bytes
        )


def database_writes(engine: Engine) -> DatabaseWrites:
    """The counters now. A backend reports its statistics when it ends, or at most once a
    second while busy, so they are read after the processes have stopped
    (https://www.postgresql.org/docs/15/monitoring-stats.html)."""
    with engine.connect() as conn:
        commits = conn.scalar(
            text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        )
        rows = conn.scalar(
            text(
                "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
                "FROM pg_stat_user_tables"
            )
        )
        wal = conn.scalar(text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')"))
    return DatabaseWrites(int(commits or 0), int(rows or 0), int(wal or 0))


@dataclass
class ScaledRun:
    workers: int  # 0: the single `run` process
    total: int
    sent: int = 0
    first_s: float = 0.0  # from the release's time to the first claim
    settled_s: float = 0.0  # from the release's time to the last acknowledgement
    rate: float = 0.0  # posts/s from the first claim to the last acknowledgement
    shares: list[int] = field(default_factory=list)  # posts sent by each worker
    cpu: list[float] = field(default_factory=list)  # each worker's CPU seconds
    scheduler_cpu: float = 0.0
    writes: DatabaseWrites = field(default_factory=lambda: DatabaseWrites(0, 0, 0))
    not_once: int = 0  # pledged accounts without exactly one post on the sandbox
    ledger_agrees: bool = False  # the ledger's post ids are the sandbox's

    @property
    def label(self) -> str:
        return "all" if self.workers == 0 else str(self.workers)

    @property
    def cpu_ms_per_post(self) -> float:
        return sum(self.cpu) / max(1, self.sent) * 1000

    @property
    def ok(self) -> bool:
        return self.sent == self.total and self.not_once == 0 and self.ledger_agrees


def scale_out(args: argparse.Namespace) -> int:
    from tests.support.postgres import ThrowawayPostgres

    total = args.x + args.pages + args.bluesky + args.mastodon
    server = ThrowawayPostgres()
    server_url = server.start()
    runs: list[ScaledRun] = []
    try:
        for n in args.workers:
            run = ScaledRun(n, total)
            release_on_workers(args, server_url, run)
            runs.append(run)
            print(
                f"  {run.label} worker(s): {run.sent}/{total} sent, settled "
                f"{run.settled_s:.1f} s after the release, {run.rate:.0f} posts/s, shares "
                f"{run.shares}, CPU {[round(c, 1) for c in run.cpu]} s",
                flush=True,
            )
    finally:
        server.stop()

    print(
        f"\n{'workers':>8}{'1st claim (s)':>14}{'settled (s)':>13}{'posts/s':>9}{'CPU ms/post':>13}"
        f"{'commits/post':>14}{'rows/post':>11}{'WAL KiB/post':>14}{'sched CPU':>11}  shares"
    )
    for run in runs:
        per_worker = " ".join(
            f"{share}({cpu / max(1, share) * 1000:.2f}ms)"
            for share, cpu in zip(run.shares, run.cpu, strict=True)
        )
        print(
            f"{run.label:>8}{run.first_s:>14.1f}{run.settled_s:>13.1f}{run.rate:>9.0f}"
            f"{run.cpu_ms_per_post:>13.2f}"
            f"{run.writes.commits / total:>14.2f}{run.writes.rows / total:>11.2f}"
            f"{run.writes.wal_bytes / total / 1024:>14.2f}{run.scheduler_cpu:>10.1f}s  "
            f"{per_worker}"
        )
    networks = ", ".join(
        f"{count} {name}"
        for name, count in (
            ("X", args.x),
            ("Pages", args.pages),
            ("Bluesky", args.bluesky),
            ("Mastodon", args.mastodon),
        )
        if count
    )
    print(
        f"each N: {networks} due at one instant; sandbox latency {args.latency_ms:.0f} ms; "
        f"DELIVERY_CONCURRENCY={args.concurrency}, DELIVERY_MAX_IN_FLIGHT={args.max_in_flight}"
    )
    ok = all(run.ok for run in runs)
    print(
        f"release --workers: {total} posts on PostgreSQL; "
        + "; ".join(
            f"{run.label}: {run.settled_s:.1f} s, {run.rate:.0f} posts/s, "
            f"{run.cpu_ms_per_post:.2f} ms CPU/post, {run.writes.rows / total:.1f} rows "
            f"{run.writes.commits / total:.2f} commits/post, shares {run.shares}"
            for run in runs
        )
        + f"; {'every post exactly once' if ok else 'NOT exactly once: see above'}"
    )
    return 0 if ok else 1


def new_database(server_url: str, name: str) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def release_config(workdir: Path, database: str, url: str, args: argparse.Namespace) -> Path:
    """The config every process of one release reads."""
    return write_config(
        workdir / "config.env",
        database,
        url,
        log_level="warning",
        delivery_concurrency=args.concurrency,
        delivery_max_in_flight=args.max_in_flight,
        # Every post due at one instant, as the target is stated: without these a release
        # spreads Bluesky posts over what 3,000 requests per 5 minutes per address needs
        # and each Mastodon server's over 300 (bot.pledges.limits), which the sandbox does
        # not enforce; the measure is Clarion's own throughput.
        bluesky_requests_per_5_minutes=0,
        mastodon_requests_per_5_minutes=0,
    )


def release_on_workers(args: argparse.Namespace, server_url: str, run: ScaledRun) -> None:
    """One release through a scheduler and ``run.workers`` workers (0: `run --role all`),
    on a database and a sandbox of its own; fills in ``run``."""
    workdir = Path(tempfile.mkdtemp(prefix=f"clarion-release-{run.workers}w-"))
    database = new_database(server_url, f"bench_{run.workers}w")
    port = free_port()
    sandbox = start_sandbox_process(port, "--x-posts-per-app", "100000000")
    url = f"http://127.0.0.1:{port}"
    admin = SandboxAdmin(url, timeout=60)
    config = release_config(workdir, database, url, args)
    processes: list[DaemonProcess] = []
    try:
        accounts = make_accounts(admin, args.x, args.pages, args.bluesky, args.mastodon)
        runtime = runtime_for(config)
        pc_id = pledge_campaign(runtime, f"bench-release-{run.workers}", accounts)
        admin.set_latency(args.latency_ms)
        if run.workers:
            scheduler = DaemonProcess(config, "--role", "scheduler")
            processes.append(scheduler)
            workers = [DaemonProcess(config, "--role", "worker") for _ in range(run.workers)]
            processes += workers
        else:
            scheduler = DaemonProcess(config)
            processes.append(scheduler)
            workers = [scheduler]
        for process in processes:
            process.wait_ready(timeout=120)
        if run.workers:
            wait_until(lambda: ACTIVE in scheduler.output(), 30, "the scheduler became active")
            # The scheduler defers one job per live worker: all of them must hold a lease.
            wait_until(
                lambda: leases.live_workers(runtime.engine) == run.workers,
                30,
                "every worker held its lease",
            )
        cpu_before = [cpu_seconds(w.process.pid) for w in workers]
        scheduler_before = cpu_seconds(scheduler.process.pid)
        writes_before = database_writes(runtime.engine)
        release_at = datetime.now(UTC) + timedelta(seconds=args.lead)
        move_release(runtime, pc_id, release_at)
        print(
            f"{run.label} worker(s): release of {run.total} at {release_at:%H:%M:%S} UTC…",
            flush=True,
        )

        def released() -> bool:
            with runtime.sessions() as session:
                pc_now = session.get(PledgeCampaign, pc_id)
                assert pc_now is not None
                return status(session, pc_now).state == "released"

        wait_until(released, args.lead + args.timeout, "the release was final")
        run.cpu = [cpu_seconds(w.process.pid) - c for w, c in zip(workers, cpu_before, strict=True)]
        if run.workers:
            run.scheduler_cpu = cpu_seconds(scheduler.process.pid) - scheduler_before
        for process in reversed(processes):
            process.terminate(timeout=120)
        run.writes = database_writes(runtime.engine) - writes_before
        with runtime.sessions() as session:
            rows = session.execute(
                select(
                    Delivery.sending_at,
                    Delivery.sent_at,
                    Delivery.claimed_by,
                    Delivery.platform_ids,
                )
                .join(Pledge, Pledge.delivery_id == Delivery.id)
                .where(Pledge.pledge_campaign_id == pc_id)
            ).all()
        runtime.close()
        sent = [r for r in rows if r.sent_at is not None]
        run.sent = len(sent)
        if sent:
            first = min(r.sending_at for r in rows if r.sending_at)
            last = max(r.sent_at for r in sent)
            run.first_s = (first - release_at).total_seconds()
            run.settled_s = (last - release_at).total_seconds()
            run.rate = len(sent) / max(1e-9, (last - first).total_seconds())
        by_worker = Counter(r.claimed_by for r in sent)
        names = [f":{w.process.pid}" for w in workers]
        run.shares = [
            sum(n for claimed, n in by_worker.items() if str(claimed).endswith(name))
            for name in names
        ]
        timeline = {str(a["id"]): a["posts"] for a in admin.timeline()}
        run.not_once = sum(len(timeline.get(a["id"], [])) != 1 for a in accounts)
        on_sandbox = {str(p["id"]) for a in accounts for p in timeline.get(a["id"], [])}
        in_ledger = {str(r.platform_ids[0]) for r in sent if r.platform_ids}
        run.ledger_agrees = on_sandbox == in_ledger
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.kill()
        sandbox.terminate()
        sandbox.wait(timeout=10)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
