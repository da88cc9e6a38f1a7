"""How late do scheduled posts go out? 1,000 posts spread over 60 s, on the sandbox.

The sandbox and the daemon run as separate processes (as `make run` would run them); the
posts are queued while the daemon runs, alternating X and Facebook. Lateness is the time
from a post's scheduled moment to the moment its request started (recorded in the ledger
before the network call); "acknowledged" is until the platform answered.

    .venv/bin/python bench/lateness.py            # 1,000 posts over 60 s
    .venv/bin/python bench/lateness.py --quick    # 200 posts over 15 s
    .venv/bin/python bench/lateness.py --during-release

``--during-release``: the same ordinary posts (default 200 over 15 s, 250 ms latency) fall
due while a pledge release of 10,000 X + 1,000 Facebook posts (window 0, as
bench/release.py) goes out; lateness is measured on the ordinary posts only. A demo
reminder must not wait behind the release: target p99 ≤ 1 s here too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bench.support import make_accounts, move_release, pledge_campaign  # noqa: E402
from bot.campaigns.enqueue import apply_specs  # noqa: E402
from bot.campaigns.specs import PostSpec  # noqa: E402
from bot.sandbox.testing import SandboxAdmin, free_port, start_sandbox_process  # noqa: E402
from bot.storage.models import Delivery, DeliveryState, Post, PostKind  # noqa: E402
from tests.support.processes import DaemonProcess, runtime_for, write_config  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="sandbox latency")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="200 posts over 15 s")
    parser.add_argument(
        "--during-release", action="store_true", help="while a pledge release goes out"
    )
    parser.add_argument("--release-x", type=int, default=10_000, help="its X accounts")
    parser.add_argument("--release-pages", type=int, default=1_000, help="its Facebook Pages")
    args = parser.parse_args()
    if args.quick:
        args.posts, args.spread = 200, 15.0
    release_size = args.release_x + args.release_pages if args.during_release else 0
    if args.during_release:
        if "--posts" not in sys.argv and not args.quick:
            args.posts, args.spread = 200, 15.0
        if "--latency-ms" not in sys.argv:
            args.latency_ms = 250.0

    workdir = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
    database = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    sandbox = start_sandbox_process(port, "--latency-ms", str(args.latency_ms))
    url = f"http://127.0.0.1:{port}"
    admin = SandboxAdmin(url, timeout=120)
    admin.set_rate_limits(x_posts_per_user=1_000_000, x_posts_per_app=100_000_000)
    config = write_config(workdir / "config.env", database, url, log_level="warning")
    release_at = None
    try:
        runtime = runtime_for(config)
        pc_id = 0
        if release_size:
            admin.set_latency(0)
            accounts = make_accounts(admin, args.release_x, args.release_pages)
            pc_id = pledge_campaign(runtime, "bench-lateness-release", accounts)
            admin.set_latency(args.latency_ms)
        with DaemonProcess(config) as daemon:
            daemon.wait_ready(timeout=60)
            lead = 15.0 if release_size else 5.0
            start = datetime.now(UTC) + timedelta(seconds=lead)
            if release_size:
                # The ordinary posts begin just after the release falls due, while its
                # 11,000 posts are being claimed and sent.
                release_at = start - timedelta(seconds=0.5)
                move_release(runtime, pc_id, release_at)
            step = args.spread / args.posts
            specs = [
                PostSpec(
                    campaign="bench",
                    key=f"p{i}",
                    scheduled_at=start + timedelta(seconds=i * step),
                    timezone="UTC",
                    targets=(platform,),
                    parts={platform: (f"Bench post {i}: picket at the depot from 6am",)},
                )
                for i in range(args.posts)
                for platform in (("x", "facebook")[i % 2],)
            ]
            with runtime.sessions() as session:
                apply_specs(session, specs, now=datetime.now(UTC))
            print(
                f"queued {args.posts} posts over {args.spread:.0f} s starting in {lead:.0f} s; "
                "waiting…",
                flush=True,
            )
            deadline = time.monotonic() + lead + args.spread + 120
            done = 0
            while time.monotonic() < deadline:
                with runtime.sessions() as session:
                    done = (
                        session.scalar(
                            select(func.count())
                            .select_from(Delivery)
                            .where(Delivery.state.in_(DeliveryState.FINAL))
                        )
                        or 0
                    )
                if done >= args.posts + release_size:
                    break
                time.sleep(0.5)
            peak_kib = daemon.peak_memory_kib() or 0
            daemon.terminate()
        with runtime.sessions() as session:
            rows = list(
                session.scalars(
                    select(Delivery).join(Delivery.post).where(Post.kind != PostKind.PLEDGE)
                )
            )
            release_last = None
            if release_at is not None:
                release_last = session.scalar(
                    select(func.max(Delivery.sent_at))
                    .join(Delivery.post)
                    .where(Post.kind == PostKind.PLEDGE)
                )
            late = [
                (d.sending_at - d.post.scheduled_at).total_seconds() * 1000
                for d in rows
                if d.sending_at
            ]
            acked = [
                (d.sent_at - d.post.scheduled_at).total_seconds() * 1000 for d in rows if d.sent_at
            ]
            sent = sum(d.state == DeliveryState.SENT for d in rows)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(f"\n{'':24}{'p50':>10}{'p99':>10}{'max':>10}")
    for label, values in (("start lateness (ms)", late), ("acknowledged (ms)", acked)):
        print(
            f"{label:24}{statistics.median(values):>10.1f}{percentile(values, 99):>10.1f}"
            f"{max(values):>10.1f}"
        )
    print(
        f"sent {sent}/{args.posts}; daemon peak memory (VmHWM) {peak_kib / 1024:.1f} MiB; "
        f"database {database.split(':')[0]}; sandbox latency {args.latency_ms:.0f} ms"
    )
    during = ""
    if release_at is not None:
        last = (release_last - release_at).total_seconds() if release_last else float("nan")
        print(
            f"during a release of {release_size} posts at {release_at:%H:%M:%S} UTC; its last "
            f"post acknowledged {last:.1f} s after its time"
        )
        during = f" during a {release_size}-post release (its last ack after {last:.1f} s)"
    print(
        f"lateness{during}: {sent}/{args.posts} posts over {args.spread:.0f} s, start p50 "
        f"{statistics.median(late):.0f} ms p99 {percentile(late, 99):.0f} ms max "
        f"{max(late):.0f} ms, ack p99 {percentile(acked, 99):.0f} ms, daemon peak "
        f"{peak_kib / 1024:.0f} MiB"
    )
    return 0 if sent == args.posts and percentile(late, 99) <= 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
