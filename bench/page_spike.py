"""A share spike: the campaign page and a static file from the same server, under
``wrk`` with 100 connections, in one run.

The server is what `python main.py web` runs (bot.web.server.serving_web: uvicorn on
loopback) over a fresh SQLite database holding one campaign with pledges. It runs in a
child process whose code comes from ``--tree`` (this checkout by default), so a second
checkout (``--before``, e.g. main at the branch point in another worktree) is measured in
the same run, on the same machine, one server at a time.

    .venv/bin/python bench/page_spike.py
    .venv/bin/python bench/page_spike.py --before /tmp/clarion-main --duration 10

Target: the page at least as fast as the static file, and its p99 <= 50 ms at 100
connections. Needs wrk (Debian: apt-get install wrk). Loopback only; every wrk run is
bounded by --duration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SLUG = "spike"
STATIC = "/static/clarion.css"
P99_TARGET_MS = 50.0


@dataclass(frozen=True)
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(tree: Path, db: Path, port: int, pledges: int) -> None:
    """The child: a database with one campaign and ``pledges`` pledges, then the pages
    on 127.0.0.1:``port`` until killed. Only names both trees share are used."""
    sys.path.insert(0, str(tree))
    from datetime import UTC, datetime, timedelta

    from bot.platforms.base import AccountInfo, Credentials
    from bot.pledges.pledging import add_pledge
    from bot.runtime.wiring import Runtime
    from bot.settings import load_settings
    from bot.storage.models import Campaign, PledgeCampaign
    from bot.storage.vault import generate_key
    from bot.web.server import serving_web

    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": f"sqlite:///{db}",
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "bench-web-secret-key-0123456789abcdef",
            "WEB_BASE_URL": f"http://127.0.0.1:{port}",
        },
    )
    runtime = Runtime(settings)
    runtime.migrate()
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        campaign = Campaign(slug=SLUG, title="Defend the union at Fujitsu", timezone="UTC")
        pc = PledgeCampaign(
            campaign=campaign,
            description="Stop the victimisation of reps.",
            message={
                "x": "Stand with the Fujitsu reps at 8:30",
                "facebook": "Stand with the Fujitsu reps at 8:30 tomorrow.",
            },
            variants=[],
            link="https://union.example/campaigns/fujitsu-reps-victimisation",
            goal=pledges * 2,
            release_at=now + timedelta(days=2),
            timezone="Europe/London",
            allow_edit=True,
            window_minutes=10,
        )
        session.add(pc)
        session.commit()
        for n in range(pledges):
            platform = "x" if n % 4 else "facebook"
            add_pledge(
                session,
                runtime.vault,
                pc,
                platform,
                Credentials(f"token-{n}", f"secret-{n}", f"{n + 1000}"),
                AccountInfo(f"{n + 1000}", f"rep{n}", f"Rep {n}", 100 + n),
                now=now,
            )
    with serving_web(runtime, host="127.0.0.1", port=port):
        print("ready", flush=True)
        while True:
            time.sleep(3600)


def _ms(text: str) -> float:
    """wrk's latency ("812.00us", "4.51ms", "1.20s", "1.00m") in milliseconds."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if found is None:
        raise SystemExit(f"could not read wrk's latency {text!r}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
    return float(found.group(1)) * scale[found.group(2)]


def wrk(url: str, connections: int, duration: int, threads: int) -> Run:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "5s",
            "--latency",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # the "Latency Distribution" lines; a "+/- Stdev" column can end in "50%" too
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Run(rps, p50, p99, errors + (int(non2xx.group(1)) if non2xx else 0))


def conditional(url: str) -> str:
    """What a revalidating browser gets: the status for If-None-Match with the ETag."""
    with urllib.request.urlopen(url, timeout=10) as first:  # noqa: S310 - loopback
        etag = first.headers.get("etag")
        cache = first.headers.get("cache-control")
    if not etag:
        return "no ETag"
    request = urllib.request.Request(url, headers={"If-None-Match": etag})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as again:  # noqa: S310
            return f"{again.status} (ETag {etag}, Cache-Control: {cache})"
    except urllib.error.HTTPError as exc:  # urllib raises on 304
        return f"{exc.code} (ETag {etag}, Cache-Control: {cache})"


def measure(tree: Path, args: argparse.Namespace) -> dict[str, object]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(tree),
                "--db",
                str(Path(tmp) / "spike.db"),
                "--port",
                str(port),
                "--pledges",
                str(args.pledges),
            ],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise SystemExit(f"the server from {tree} did not start")
            base = f"http://127.0.0.1:{port}"
            page, static = f"{base}/c/{SLUG}", f"{base}{STATIC}"
            wrk(page, 10, 2, args.threads)  # warm up both before measuring
            wrk(static, 10, 2, args.threads)
            result: dict[str, object] = {
                "tree": str(tree),
                "page": wrk(page, args.connections, args.duration, args.threads).__dict__,
                "static": wrk(static, args.connections, args.duration, args.threads).__dict__,
                "conditional": conditional(page),
            }
        finally:
            child.terminate()
            child.wait(timeout=15)
    return result


def report(name: str, result: dict[str, object]) -> str:
    page, static = result["page"], result["static"]
    assert isinstance(page, dict) and isinstance(static, dict)
    ratio = page["rps"] / static["rps"] if static["rps"] else 0.0
    print(f"{name} ({result['tree']}):")
    for label, run in (("campaign page", page), (f"static {STATIC}", static)):
        print(
            f"  {label:<28} {run['rps']:8.0f} req/s  p50 {run['p50_ms']:7.1f} ms"
            f"  p99 {run['p99_ms']:7.1f} ms  errors {run['errors']}"
        )
    print(f"  page/static ratio: {ratio:.2f}; conditional request: {result['conditional']}")
    return (
        f"{name}: page {page['rps']:.0f}/s p50 {page['p50_ms']:.1f} ms p99 "
        f"{page['p99_ms']:.1f} ms, static {static['rps']:.0f}/s, ratio {ratio:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to measure")
    parser.add_argument("--before", type=Path, help="a second checkout, measured first")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--pledges", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port, args.pledges)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: sudo apt-get install wrk")
    results = {}
    if args.before:
        results["before"] = measure(args.before.resolve(), args)
    results["after"] = measure(args.tree.resolve(), args)
    lines = [report(name, result) for name, result in results.items()]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    after = results["after"]
    page, static = after["page"], after["static"]
    assert isinstance(page, dict) and isinstance(static, dict)
    met = page["rps"] >= static["rps"] and page["p99_ms"] <= P99_TARGET_MS
    print(
        "headline: "
        + " | ".join(lines)
        + f" | target (page >= static, p99 <= {P99_TARGET_MS:.0f} ms): "
        + ("met" if met else "NOT met")
    )


if __name__ == "__main__":
    main()
