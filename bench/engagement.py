"""One full engagement snapshot round over 100,000 sent posts, on the sandbox.

The sandbox runs as a separate process; it is bulk-seeded (``POST /_sandbox/seed``) with
X accounts and Facebook Pages whose posts went out two hours ago, and Clarion's database
gets the matching sent deliveries (100 release posts × many accounts). Then one round
runs exactly as the daemon runs it (``poller_for(runtime).run()``): every post's 1 h
snapshot is due. The round runs in a child process, so its peak memory (ru_maxrss) is the
round's own. Reported: wall time of the round and of its writes, HTTP calls made, rows
written, peak memory.

    .venv/bin/python bench/engagement.py                # 90,000 X + 10,000 Facebook
    .venv/bin/python bench/engagement.py --quick        # 9,000 + 1,000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Table, func, insert, select  # noqa: E402

from bot.engagement.poll import poller_for  # noqa: E402
from bot.platforms.base import Credentials  # noqa: E402
from bot.runtime.wiring import Runtime  # noqa: E402
from bot.sandbox.testing import SandboxAdmin, free_port, start_sandbox_process  # noqa: E402
from bot.storage.models import (  # noqa: E402
    Account,
    Campaign,
    Delivery,
    DeliveryState,
    EngagementSnapshot,
    Post,
)
from tests.support.processes import runtime_for, write_config  # noqa: E402

RELEASES = 100  # posts of the campaign; each account sends some of them


def rss_mib() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that
    over from the parent across fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seed(admin: SandboxAdmin, platform: str, posts: int, per: int) -> list[dict[str, Any]]:
    accounts = max(1, posts // per)
    answer = admin._call(
        "POST",
        "/seed",
        json={
            "platform": platform,
            "accounts": accounts,
            "posts_per_account": per,
            "followers": 2000,
            "age_seconds": 7200,
        },
    )
    created: list[dict[str, Any]] = answer["accounts"]
    return created


def fill_database(runtime: Runtime, seeded: dict[str, list[dict[str, Any]]]) -> int:
    """Accounts, 100 release posts and one sent delivery per seeded post (executemany)."""
    sent = datetime.now(UTC) - timedelta(hours=2)
    with runtime.sessions() as session:
        campaign = Campaign(slug="bench", title="Engagement bench", timezone="UTC")
        session.add(campaign)
        session.flush()
        posts = [
            Post(
                campaign_id=campaign.id,
                key=f"release-{i}",
                parts={"x": [f"Release {i}"]},
                scheduled_at=sent,
                timezone="UTC",
                targets=["x", "facebook"],
            )
            for i in range(RELEASES)
        ]
        session.add_all(posts)
        session.flush()
        post_ids = [p.id for p in posts]
        rows: list[dict[str, Any]] = []
        for platform, accounts in seeded.items():
            for entry in accounts:
                if platform == "x":
                    creds = Credentials(
                        entry["access_token"], entry["access_token_secret"], entry["id"]
                    )
                else:
                    creds = Credentials(entry["page_token"], "", entry["id"])
                account = Account(
                    platform=platform,
                    handle=entry.get("username") or entry["name"],
                    platform_user_id=entry["id"],
                    credentials=runtime.vault.seal(creds),
                    followers=2000,
                )
                session.add(account)
                session.flush()
                for i, platform_id in enumerate(entry["post_ids"]):
                    rows.append(
                        {
                            "post_id": post_ids[i % RELEASES],
                            "account_id": account.id,
                            "platform": platform,
                            "state": DeliveryState.SENT,
                            "due_at": sent,
                            "sent_at": sent,
                            "parts_done": 1,
                            "platform_ids": [platform_id],
                            "url": f"https://example.invalid/{platform_id}",
                            "attempts": 1,
                            "created_at": sent,
                            "updated_at": sent,
                        }
                    )
        session.execute(insert(cast(Table, Delivery.__table__)), rows)
        session.commit()
        return len(rows)


def run_round(config: Path, url: str) -> None:
    """The measured part, in a child process so its peak memory is the round's own."""
    runtime = runtime_for(config).with_sandbox(url, SandboxAdmin(url).app())
    calls = {"x": 0, "facebook": 0}
    for name, platform in runtime.platforms.items():

        def count(response: Any, *_: Any, name: str = name, **__: Any) -> None:
            calls[name] += 1

        platform.session.hooks["response"].append(count)  # type: ignore[attr-defined]
    poller = poller_for(runtime)
    before = rss_mib()
    result = poller.run()
    report = {
        "summary": result.summary(),
        "read": result.read,
        "seconds": result.seconds,
        "write_seconds": result.write_seconds,
        "calls": calls,
        "rss_before": before,
        "rss_after": rss_mib(),
    }
    print(json.dumps(report))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--x-posts", type=int, default=90_000)
    parser.add_argument("--facebook-posts", type=int, default=10_000)
    parser.add_argument("--x-per-account", type=int, default=100, help="≤ 100: one read each")
    parser.add_argument("--facebook-per-page", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="a tenth of the posts")
    parser.add_argument("--round", nargs=2, metavar=("CONFIG", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.round:
        run_round(Path(args.round[0]), args.round[1])
        return 0
    if args.quick:
        args.x_posts, args.facebook_posts = args.x_posts // 10, args.facebook_posts // 10

    workdir = Path(tempfile.mkdtemp(prefix="clarion-bench-"))
    database = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
    port = free_port()
    sandbox = start_sandbox_process(port)
    url = f"http://127.0.0.1:{port}"
    admin = SandboxAdmin(url, timeout=120)
    admin.set_rate_limits(x_reads_per_user=1_000_000, x_reads_per_app=1_000_000)
    config = write_config(
        workdir / "config.env",
        database,
        url,
        log_level="warning",
        engagement_concurrency=args.concurrency,
    )
    try:
        t0 = time.perf_counter()
        seeded = {}
        if args.x_posts:
            seeded["x"] = seed(admin, "x", args.x_posts, args.x_per_account)
        if args.facebook_posts:
            seeded["facebook"] = seed(
                admin, "facebook", args.facebook_posts, args.facebook_per_page
            )
        runtime = runtime_for(config)
        total = fill_database(runtime, seeded)
        del seeded
        print(f"seeded {total} sent posts in {time.perf_counter() - t0:.1f} s", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--round", str(config), url],
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            return 1
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        with runtime.sessions() as session:
            rows = session.scalar(select(func.count()).select_from(EngagementSnapshot)) or 0
            advanced = (
                session.scalar(
                    select(func.count()).select_from(Delivery).where(Delivery.engagement_stage == 1)
                )
                or 0
            )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    elapsed, calls = measured["seconds"], measured["calls"]
    print(measured["summary"])
    print(
        f"round: {elapsed:.1f} s for {total} posts ({total / elapsed:,.0f} posts/s), of which "
        f"{measured['write_seconds']:.1f} s writing; HTTP calls: X {calls['x']}, Facebook "
        f"{calls['facebook']}; rows {rows:,}; snapshots advanced {advanced:,}; round process "
        f"peak RSS {measured['rss_after']:.0f} MiB ({measured['rss_before']:.0f} MiB before "
        f"the round); database {database.split(':')[0]}; concurrency {args.concurrency}"
    )
    ok = measured["read"] == total and advanced == total and elapsed <= 60
    print(
        f"engagement: {measured['read']}/{total} posts read in {elapsed:.1f} s "
        f"({calls['x'] + calls['facebook']} calls, {rows:,} rows, peak RSS "
        f"{measured['rss_after']:.0f} MiB) {'OK' if ok else 'OVER BUDGET OR INCOMPLETE'} "
        "(target ≤ 60 s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
