"""Recovery after a crash mid-release: SIGKILL the daemon while 10,000 X and 1,000 Facebook
posts go out (250 ms latency on the sandbox), start it again, and time until every post
is settled — found on the platform and recorded, or sent once.

As bench/release.py: the sandbox and the daemon are separate processes, the accounts are
created through the sandbox's admin API and pledged through ``add_pledge``, and the
release (window 0) falls due a few seconds after the daemon is up. The killed daemon
runs with ``--crash-in-flight`` deliveries claimed at once (default: all of them, the
worst case: every post not yet acknowledged is left ``sending``, so ``unknown`` after the
restart, and must be looked for before it may be sent); the restarted one with the
production default, ``--max-in-flight``. Target: everything settled within 60 s of the
restart, and exactly one post on every pledged account (the sandbox's own records).

In the same run, the baseline: the release itself before the kill (posts acknowledged
per second), i.e. what bench/release.py measures.

    .venv/bin/python bench/recovery.py            # 10,000 X + 1,000 Pages
    .venv/bin/python bench/recovery.py --quick    # 1,000 X + 100 Pages
    .venv/bin/python bench/recovery.py --quick --restart-from ../main   # another checkout

``--restart-from``: the restarted daemon runs another checkout's code (same database
schema), e.g. one from before the asyncio recovery, to measure the threaded one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from bench.support import make_accounts, move_release, percentile, pledge_campaign  # noqa: E402
from bot.runtime.wiring import Runtime  # noqa: E402
from bot.sandbox.testing import SandboxAdmin, free_port, start_sandbox_process  # noqa: E402
from bot.storage.models import Delivery, DeliveryState, Pledge  # noqa: E402
from tests.support.processes import (  # noqa: E402
    DaemonProcess,
    clean_env,
    runtime_for,
    write_config,
)

TARGET_S = 60.0
ROOT = Path(__file__).resolve().parents[1]


class DaemonFrom(DaemonProcess):
    """``python main.py run`` from the checkout ``root``, on the same config file."""

    def __init__(self, config: Path, root: Path) -> None:
        self.config = config
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open, as DaemonProcess
            prefix="clarion-daemon-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, "main.py", "--config", str(config), "run", "--no-examples"],
            cwd=root,
            env={**clean_env(), "PYTHONPATH": str(root)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )


def release_rows(runtime: Runtime, pc_id: int) -> list[Delivery]:
    with runtime.sessions() as session:
        return list(
            session.scalars(
                select(Delivery)
                .join(Pledge, Pledge.delivery_id == Delivery.id)
                .where(Pledge.pledge_campaign_id == pc_id)
            )
        )


def posts_by_account(admin: SandboxAdmin) -> dict[str, set[str]]:
    """Every account's post ids, as the sandbox recorded them."""
    return {str(a["id"]): {str(p["id"]) for p in a["posts"]} for a in admin.timeline()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x", type=int, default=10_000, help="pledged X accounts")
    parser.add_argument("--pages", type=int, default=1_000, help="pledged Facebook Pages")
    parser.add_argument("--latency-ms", type=float, default=250.0)
    parser.add_argument("--concurrency", type=int, default=16, help="DELIVERY_CONCURRENCY")
    parser.add_argument(
        "--max-in-flight", type=int, default=1000, help="DELIVERY_MAX_IN_FLIGHT after the restart"
    )
    parser.add_argument(
        "--crash-in-flight",
        type=int,
        default=0,
        help="DELIVERY_MAX_IN_FLIGHT of the daemon that is killed (default: every post)",
    )
    parser.add_argument(
        "--kill-after", type=float, default=0.25, help="kill once this share is acknowledged"
    )
    parser.add_argument("--lead", type=float, default=15.0, help="seconds to the release")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    parser.add_argument("--quick", action="store_true", help="1,000 X + 100 Pages")
    parser.add_argument(
        "--restart-from", type=Path, default=ROOT, help="the checkout the restart runs"
    )
    args = parser.parse_args()
    restart_root = args.restart_from.resolve()
    if args.quick:
        args.x, args.pages = 1_000, 100
    total = args.x + args.pages
    crash_in_flight = args.crash_in_flight or total

    workdir = Path(tempfile.mkdtemp(prefix="clarion-recovery-"))
    database = f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    sandbox = start_sandbox_process(port, "--x-posts-per-app", "100000000")
    url = f"http://127.0.0.1:{port}"
    admin = SandboxAdmin(url, timeout=120)
    config = write_config(
        workdir / "config.env",
        database,
        url,
        log_level="warning",
        delivery_concurrency=args.concurrency,
        delivery_max_in_flight=args.max_in_flight,
    )
    # The same settings and keys, but every due post claimed at once.
    crash_config = workdir / "crash.env"
    crash_config.write_text(
        config.read_text().replace(
            f"DELIVERY_MAX_IN_FLIGHT={args.max_in_flight}",
            f"DELIVERY_MAX_IN_FLIGHT={crash_in_flight}",
        )
    )
    try:
        t0 = time.monotonic()
        accounts = make_accounts(admin, args.x, args.pages)
        runtime = runtime_for(config)
        pc_id = pledge_campaign(runtime, "bench-recovery", accounts)
        print(f"setup: {total} accounts pledged in {time.monotonic() - t0:.1f} s", flush=True)
        admin.set_latency(args.latency_ms)

        # 1. The release, and the kill in the middle of it.
        with DaemonProcess(crash_config) as crashed:
            crashed.wait_ready(timeout=60)
            release_at = datetime.now(UTC) + timedelta(seconds=args.lead)
            move_release(runtime, pc_id, release_at)
            print(f"release at {release_at:%H:%M:%S} UTC; killing mid-release…", flush=True)
            deadline = time.monotonic() + args.lead + args.timeout
            acked = 0
            while time.monotonic() < deadline:
                with runtime.sessions() as session:
                    acked = len(
                        session.scalars(
                            select(Delivery.id)
                            .join(Pledge, Pledge.delivery_id == Delivery.id)
                            .where(
                                Pledge.pledge_campaign_id == pc_id,
                                Delivery.state == DeliveryState.SENT,
                            )
                        ).all()
                    )
                if acked >= args.kill_after * total:
                    break
                time.sleep(0.1)
            crashed.kill()
            killed_at = datetime.now(UTC)
        time.sleep(2 * args.latency_ms / 1000 + 1)  # requests already at the sandbox land
        before = release_rows(runtime, pc_id)
        at_kill = Counter(str(d.state) for d in before)
        interrupted = {d.id for d in before if d.state == DeliveryState.SENDING}
        pre_restart = posts_by_account(admin)
        on_platform = sum(len(ids) for ids in pre_restart.values())
        release_rate = at_kill[DeliveryState.SENT] / max(
            1e-9, (killed_at - release_at).total_seconds()
        )
        print(
            f"killed {(killed_at - release_at).total_seconds():.1f} s into the release: "
            f"{dict(at_kill)}; {on_platform} posts on the sandbox, so "
            f"{on_platform - at_kill[DeliveryState.SENT]} out but not recorded",
            flush=True,
        )

        # 2. The restart, and recovery.
        restarted_at = datetime.now(UTC)
        started = time.monotonic()
        with DaemonFrom(config, restart_root) as daemon:
            daemon.wait_ready(timeout=120)
            ready_s = time.monotonic() - started
            deadline = time.monotonic() + args.timeout
            open_left = total
            while time.monotonic() < deadline:
                rows = release_rows(runtime, pc_id)
                open_left = sum(d.state not in DeliveryState.FINAL for d in rows)
                if open_left == 0:
                    break
                time.sleep(0.25)
            peak_kib = daemon.peak_memory_kib() or 0
            daemon.terminate(timeout=120)
        after = release_rows(runtime, pc_id)
        final = posts_by_account(admin)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    sent = [d for d in after if d.state == DeliveryState.SENT]
    settled_at = [
        (d.sent_at - restarted_at).total_seconds() for d in sent if d.sent_at > restarted_at
    ]
    last = max(settled_at, default=0.0)
    # Exactly once, as the platforms recorded it, and the ledger names that one post.
    wrong = sum(len(final.get(a["id"], ())) != 1 for a in accounts)
    owner_of = {post: account for account, posts in final.items() for post in posts}
    mismatched = found = resent = 0
    for delivery in sent:
        ids = delivery.platform_ids or []
        owner = owner_of.get(ids[0]) if len(ids) == 1 else None
        if owner is None:
            mismatched += 1
        elif delivery.id in interrupted:
            if ids[0] in pre_restart.get(owner, set()):
                found += 1
            else:
                resent += 1
    ok = len(sent) == total and wrong == 0 and mismatched == 0 and last <= TARGET_S
    rate = len(settled_at) / max(1e-9, last)
    print(f"\n{'settled after the restart (s)':32}{'p50':>8}{'p99':>8}{'max':>8}")
    print(
        f"{'':32}{percentile(settled_at, 50):>8.1f}{percentile(settled_at, 99):>8.1f}{last:>8.1f}"
    )
    print(
        f"at the restart: {len(interrupted)} unknown (were sending), "
        f"{at_kill[DeliveryState.PENDING]} pending, {at_kill[DeliveryState.SENT]} sent; "
        f"of the unknown, {found} found on the platform and recorded, {resent} sent once; "
        f"daemon ready {ready_s:.1f} s after its start; peak memory {peak_kib / 1024:.0f} MiB; "
        f"sandbox latency {args.latency_ms:.0f} ms; DELIVERY_MAX_IN_FLIGHT {crash_in_flight} "
        f"before the kill, {args.max_in_flight} after"
    )
    print(
        f"accounts without exactly one post: {wrong}; ledger ids not on the sandbox: {mismatched}"
    )
    code = "" if restart_root == ROOT else f" (restart ran {restart_root})"
    print(
        f"recovery{code}: {len(sent)}/{total} settled, last {last:.1f} s after the restart "
        f"({'met' if ok else 'MISSED'} {TARGET_S:.0f} s), {len(interrupted)} unknown "
        f"({found} found, {resent} sent once), {wrong} not exactly once, "
        f"{rate:.0f} settled/s vs the release before the kill {release_rate:.0f} posts/s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
