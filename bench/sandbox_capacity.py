"""How much load the sandbox takes: signed posts per second, and concurrent requests held.

    .venv/bin/python bench/sandbox_capacity.py            # full run
    .venv/bin/python bench/sandbox_capacity.py --quick    # CI-sized

(a) Throughput: signed POST /2/tweets, no injected latency, over a pool of keep-alive
    connections. Requests are signed beforehand with oauthlib (the library tweepy signs
    with) so the client spends its CPU on I/O; many users keep per-user limits out of
    the way and the per-app limit is raised.
(b) Concurrency: N connections are opened first, then N signed posts are sent at once
    with 250 ms injected latency; all must complete, in about 0.25 s plus overhead.

The client is raw asyncio streams speaking HTTP/1.1 (leaner than any HTTP library, so
the sandbox, not the client, is what is measured). Client and server share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oauthlib.oauth1 import Client as OAuthClient  # noqa: E402

from bot.sandbox.options import SandboxOptions  # noqa: E402
from bot.sandbox.testing import SandboxAdmin, free_port, start_sandbox_process  # noqa: E402

POSTS_PER_USER = 90  # below the default 100 per 15 minutes


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1_000_000
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def sign_batch(args: tuple[list[dict[str, str]], int, int, str, bool]) -> list[bytes]:
    """Build signed raw HTTP requests (runs in worker processes)."""
    users, start, count, tag, link = args
    options = SandboxOptions()
    requests = []
    for i in range(start, start + count):
        user = users[i % len(users)]
        text = f"capacity {tag} {i}" + (f" https://example.org/p/{i}" if link else "")
        body = json.dumps({"text": text}).encode()
        client = OAuthClient(
            options.consumer_key,
            options.consumer_secret,
            user["access_token"],
            user["access_token_secret"],
        )
        _, headers, _ = client.sign(
            "https://api.x.com/2/tweets",
            "POST",
            headers={"Content-Type": "application/json"},
        )
        requests.append(
            b"POST /2/tweets HTTP/1.1\r\nHost: api.x.com\r\n"
            + f"Authorization: {headers['Authorization']}\r\n".encode()
            + b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return requests


def sign_all(users: list[dict[str, str]], total: int, tag: str, link: bool = False) -> list[bytes]:
    workers = max(1, os.cpu_count() or 1)
    chunk = -(-total // workers)
    jobs = [(users, s, min(chunk, total - s), tag, link) for s in range(0, total, chunk)]
    with ProcessPoolExecutor(workers) as pool:
        return [request for batch in pool.map(sign_batch, jobs) for request in batch]


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def connect(host: str, port: int, count: int, batch: int = 500) -> list[Any]:
    """Open ``count`` connections, ``batch`` at a time (the kernel's accept backlog is
    finite: a burst of 10,000 SYNs would overflow it and cost 1 s SYN retries)."""
    connections: list[Any] = []
    for start in range(0, count, batch):
        opened = await asyncio.gather(
            *(asyncio.open_connection(host, port) for _ in range(min(batch, count - start)))
        )
        connections.extend(opened)
    return connections


async def throughput(
    host: str, port: int, requests: list[bytes], connections: int
) -> dict[str, Any]:
    pool = await connect(host, port, connections)
    queue = iter(requests)
    statuses: dict[int, int] = {}
    latencies: list[float] = []

    async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for request in queue:
            started = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(r, w) for r, w in pool))
    elapsed = time.perf_counter() - started
    for _, writer in pool:
        writer.close()
    latencies.sort()
    return {
        "requests": len(requests),
        "connections": connections,
        "elapsed_s": elapsed,
        "per_s": len(requests) / elapsed,
        "statuses": statuses,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def concurrency(host: str, port: int, requests: list[bytes]) -> dict[str, Any]:
    opened = time.perf_counter()
    pool = await connect(host, port, len(requests))
    open_s = time.perf_counter() - opened
    statuses: dict[int, int] = {}
    answered: list[float] = []

    async def one(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
    ) -> None:
        writer.write(request)
        status = await read_response(reader)
        answered.append(time.perf_counter())
        statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(one(r, w, q) for (r, w), q in zip(pool, requests, strict=True)))
    elapsed = time.perf_counter() - started
    for _, writer in pool:
        writer.close()
    return {
        "requests": len(requests),
        "open_s": open_s,
        "elapsed_s": elapsed,
        "first_answer_s": min(answered) - started,
        "statuses": statuses,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to see who the bottleneck is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_users(admin: SandboxAdmin, count: int, prefix: str) -> list[dict[str, str]]:
    return [admin.create_x_user(f"{prefix}{i}", followers=100) for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small CI-sized run")
    parser.add_argument("--posts", type=int, help="requests in the throughput run")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--concurrent", type=int, help="requests held at once in run (b)")
    parser.add_argument("--latency-ms", type=float, default=250.0, help="latency for run (b)")
    parser.add_argument(
        "--link",
        action="store_true",
        help="put a link in every post (X wraps it in t.co: URL extraction costs more)",
    )
    args = parser.parse_args()
    posts = args.posts or (3_000 if args.quick else 30_000)
    concurrent = args.concurrent or (1_000 if args.quick else 10_000)

    nofile = raise_nofile()  # inherited by the sandbox process started below
    if concurrent + 100 > nofile:
        print(f"RLIMIT_NOFILE is {nofile}: lower --concurrent", file=sys.stderr)
        return 2
    port = free_port()
    process = start_sandbox_process(port, "--x-posts-per-app", "100000000")
    try:
        url = f"http://127.0.0.1:{port}"
        admin = SandboxAdmin(url)
        users_a = make_users(admin, -(-posts // POSTS_PER_USER), "tp")
        users_b = make_users(admin, -(-concurrent // POSTS_PER_USER), "cc")
        signed_a = sign_all(users_a, posts, "a", args.link)
        signed_b = sign_all(users_b, concurrent, "b")
        server_before, client_before = cpu_seconds(process.pid), time.process_time()
        a = asyncio.run(throughput("127.0.0.1", port, signed_a, args.connections))
        a["server_cpu_us"] = (cpu_seconds(process.pid) - server_before) / posts * 1e6
        a["client_cpu_us"] = (time.process_time() - client_before) / posts * 1e6
        admin.set_latency(args.latency_ms, platform="x")
        admin.stats(clear_peak=True)
        b = asyncio.run(concurrency("127.0.0.1", port, signed_b))
        b["peak_in_flight"] = admin.stats()["peak_in_flight"]  # measured by the server
    finally:
        process.terminate()
        process.wait(timeout=10)

    print(f"{'run':<34}{'requests':>10}{'seconds':>10}{'result':>26}")
    label_a = "(a) signed POST /2/tweets" + (" + link" if args.link else "")
    print(f"{label_a:<34}{a['requests']:>10}{a['elapsed_s']:>10.2f}{a['per_s']:>18.0f} posts/s")
    print(
        f"{'    latency p50 / p99 (ms)':<34}{'':>10}{'':>10}"
        f"{a['p50_ms']:>14.1f} / {a['p99_ms']:.1f}"
    )
    print(
        f"{'    CPU per post server / client':<34}{'':>10}{'':>10}"
        f"{a['server_cpu_us']:>11.0f} / {a['client_cpu_us']:.0f} us"
    )
    print(f"{'    statuses':<34}{json.dumps(a['statuses']):>46}")
    print(
        f"{f'(b) concurrent, latency {args.latency_ms:.0f} ms':<34}{b['requests']:>10}"
        f"{b['elapsed_s']:>10.2f}{b['peak_in_flight']:>13} in flight"
    )
    print(f"{'    connections opened in (s)':<34}{'':>10}{b['open_s']:>10.2f}")
    print(f"{'    first answer after (s)':<34}{'':>10}{b['first_answer_s']:>10.2f}")
    print(f"{'    statuses':<34}{json.dumps(b['statuses']):>46}")
    ok_a = a["statuses"].get(201, 0) == a["requests"]
    ok_b = b["statuses"].get(201, 0) == b["requests"]
    print(
        f"sandbox_capacity: {a['per_s']:.0f} posts/s signed"
        f"{'' if ok_a else ' (SOME FAILED)'}, {b['requests']} concurrent "
        f"{'ok' if ok_b else 'FAILED'} in {b['elapsed_s']:.2f} s (latency {args.latency_ms:.0f} ms)"
    )
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(main())
