"""`apply` of one large schedule file: 20,000 posts to X and Facebook in one file.

The file is written to a temporary folder, the campaign's X account and Facebook Page are
registered, and `python main.py apply FILE` runs as a volunteer would run it (a separate
process, SQLite). Timed from the command's start to its exit, so start-up, reading,
checking and storing are all in the figure. Target: ≤ 10 s for 20,000 posts. The
command's CPU time is reported beside it: on a shared machine the wall time mostly
measures the other work.

    .venv/bin/python bench/apply.py                 # 20,000 posts
    .venv/bin/python bench/apply.py --posts 2000    # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from bot.platforms.base import Credentials  # noqa: E402
from bot.storage.models import Account, Post  # noqa: E402
from tests.support.processes import clean_env, runtime_for, write_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0


def schedule(posts: int) -> str:
    """``posts`` posts a minute apart from next month on, each with its own text and link."""
    start = (datetime.now(UTC) + timedelta(days=30)).replace(second=0, microsecond=0)
    lines = ["campaign: bench", "timezone: UTC", "defaults:", "  to: [x, facebook]", "posts:"]
    for i in range(posts):
        at = start + timedelta(minutes=i)
        lines += [
            f"  - id: post-{i}",
            f"    at: {at:%Y-%m-%d %H:%M}",
            f"    text: 'Post {i}: stand with the Fujitsu reps #DefendTheUnion'",
            f"    link: https://union.example/p/{i}",
        ]
    return "\n".join(lines) + "\n"


def add_accounts(config: Path) -> None:
    runtime = runtime_for(config)
    with runtime.sessions() as session:
        for platform, handle in (("x", "union"), ("facebook", "union-page")):
            session.add(
                Account(
                    platform=platform,
                    handle=handle,
                    name=handle,
                    owner_kind="campaign",
                    is_default=True,
                    platform_user_id=f"u-{handle}",
                    credentials=runtime.vault.seal(
                        Credentials(token="t", secret="s", platform_user_id=f"u-{handle}")
                    ),
                )
            )
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clarion-bench-apply-") as tmp:
        folder = Path(tmp)
        config = write_config(
            folder / "config.env", f"sqlite:///{folder / 'bench.db'}", "http://127.0.0.1:9"
        )
        add_accounts(config)
        path = folder / "big.yaml"
        path.write_text(schedule(args.posts), encoding="utf-8")
        size = path.stat().st_size
        cpu_before = _children_cpu()
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "main.py", "--config", str(config), "apply", str(path)],
            cwd=ROOT,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        elapsed = time.perf_counter() - started
        cpu = _children_cpu() - cpu_before
        if result.returncode != 0:
            raise SystemExit(f"apply failed:\n{result.stdout}{result.stderr[-3000:]}")
        with runtime_for(config).sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Post))
        verdict = "met" if elapsed <= TARGET_S and stored == args.posts else "NOT met"
        print(
            f"apply: {stored:,}/{args.posts:,} posts ({size / 1e6:.1f} MB) applied in "
            f"{elapsed:.1f} s (CPU {cpu:.1f} s; load {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores), target {TARGET_S:.0f} s {verdict}"
        )


def _children_cpu() -> float:
    """CPU seconds (user + system) used by finished child processes: unlike the wall
    time, it does not grow when other work shares the machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
