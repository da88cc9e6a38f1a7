"""``clarion sandbox`` / ``python -m bot.sandbox``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from bot.sandbox.cli import sandbox_command
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import REPO_ROOT, free_port


def test_help_documents_every_option() -> None:
    result = CliRunner().invoke(sandbox_command, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--state",
        "--seed",
        "--time-acceleration",
        "--latency-ms",
        "--latency-distribution",
        "--x-error-rate",
        "--x-timeout-rate",
        "--x-reset-rate",
        "--x-accept-then-drop-rate",
        "--fb-error-rate",
        "--bsky-accept-then-error-rate",
        "--mastodon-error-rate",
        "--mastodon-accept-then-drop-rate",
        "--x-posts-per-user",
        "--x-posts-per-app",
        "--x-monthly-post-cap",
        "--duplicate-window-s",
    ):
        assert option in result.output
    params = [p for p in sandbox_command.params if p.name != "help"]
    assert all(getattr(p, "help", None) for p in params)


def test_bad_values_are_refused_before_serving() -> None:
    result = CliRunner().invoke(sandbox_command, ["--x-error-rate", "2"])
    assert result.exit_code == 2
    assert "--x-error-rate" in result.output


def test_it_prints_urls_and_credentials_then_serves(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "out.txt"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "bot.sandbox", "--port", str(port), "--latency-ms", "5"),
                *("--fb-reset-rate", "0.25", "--bsky-accept-then-drop-rate", "0.5"),
                *("--mastodon-accept-then-error-rate", "0.125"),
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                app = requests.get(f"http://127.0.0.1:{port}/_sandbox/app", timeout=1).json()
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        else:
            raise AssertionError(log.read_text())
        faults = requests.get(f"http://127.0.0.1:{port}/_sandbox/faults", timeout=1).json()
        assert faults["x"]["latency_ms"] == 5.0
        # each platform's flag reaches that platform's faults, and only its own
        assert faults["facebook"]["reset_rate"] == 0.25
        assert faults["bluesky"]["accept_then_drop_rate"] == 0.5
        assert faults["mastodon"]["accept_then_error_rate"] == 0.125
        assert faults["x"]["reset_rate"] == 0 and faults["mastodon"]["reset_rate"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
    output = log.read_text()
    assert f"http://127.0.0.1:{port}" in output
    assert f"http://127.0.0.1:{port}/_sandbox/" in output
    assert SandboxOptions().consumer_key in output
    assert app["consumer_key"] == SandboxOptions().consumer_key
