"""End to end, as an operator runs it: the sandbox and the daemon as processes, posts
queued through the command line a few seconds ahead, arriving on time on both platforms.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from bot.sandbox.testing import SandboxAdmin, sandbox_process
from tests.support.processes import DaemonProcess, cli, cli_json, write_config


@pytest.fixture
def sandbox():
    with sandbox_process() as url:
        yield url


def wait_until_final(config, expected: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = cli_json(config, "deliveries", "list", "--limit", "1000")
        if len(rows) == expected and all(r["state"] in ("sent", "failed") for r in rows):
            return rows
        time.sleep(0.3)
    raise AssertionError(f"deliveries not final after {timeout} s: {rows}")


def test_posts_queued_from_the_cli_arrive_on_time_on_both_platforms(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox)
    with DaemonProcess(config) as daemon:
        daemon.wait_ready()
        cli(
            config,
            "posts",
            "add",
            "--in",
            "4s",
            "--id",
            "demo-eve",
            "--campaign",
            "fujitsu",
            "Demo tomorrow 8:30–10am outside Fujitsu's London HQ #DefendTheUnion",
        )
        cli(
            config,
            "posts",
            "add",
            "--in",
            "5s",
            "--id",
            "result",
            "--campaign",
            "fujitsu",
            "1/ Ballot result: 87% voted to strike.",
            "2/ Turnout 71%, well over the 50% bar.",
        )
        rows = wait_until_final(config, expected=4)
        assert daemon.terminate() == 0, daemon.output()
    assert {r["state"] for r in rows} == {"sent"}
    posts = {p["key"]: p for p in cli_json(config, "posts", "list")}
    admin = SandboxAdmin(sandbox)
    accounts = {a["platform"]: a for a in cli_json(config, "accounts", "list")}
    x_timeline = admin.posts("x", accounts["x"]["platform_user_id"])
    fb_timeline = admin.posts("facebook", accounts["facebook"]["platform_user_id"])
    for key, post in posts.items():
        scheduled = datetime.fromisoformat(post["scheduled_at"])
        for delivery in post["deliveries"]:
            late = (datetime.fromisoformat(delivery["sending_at"]) - scheduled).total_seconds()
            assert 0 <= late < 1.0, f"{key} on {delivery['platform']} was {late:.2f} s late"
            timeline = x_timeline if delivery["platform"] == "x" else fb_timeline
            ids = {p["id"] for p in timeline}
            assert set(delivery["platform_ids"]) <= ids, (key, delivery, timeline)
    thread_ids = next(d for d in posts["result"]["deliveries"] if d["platform"] == "x")[
        "platform_ids"
    ]
    by_id = {p["id"]: p for p in x_timeline}
    assert len(thread_ids) == 2 and by_id[thread_ids[1]]["reply_to"] == thread_ids[0]
    assert "stopped" in daemon.output()
