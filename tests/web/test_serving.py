"""The campaign pages are served by `python main.py web` alone and inside `run`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bot.sandbox.testing import SandboxHandle, free_port
from tests.support.processes import ROOT, DaemonProcess, clean_env, runtime_for, write_config
from tests.support.web import add_campaign

pytestmark = pytest.mark.slow


def _config(tmp_path: Path, database_url: str, sandbox: SandboxHandle, port: int) -> Path:
    config = write_config(
        tmp_path / "config.env",
        database_url,
        sandbox.url,
        web_port=port,
        web_base_url=f"http://127.0.0.1:{port}",
        web_secret_key="serving-test-secret-0123456789",
    )
    runtime = runtime_for(config)
    add_campaign(runtime)
    runtime.close()
    return config


def _get(url: str, timeout: float = 20.0) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_run_serves_the_campaign_pages_beside_the_daemon(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle
) -> None:
    port = free_port()
    config = _config(tmp_path, empty_database, sandbox, port)
    daemon = DaemonProcess(config).wait_ready()
    try:
        page = _get(f"http://127.0.0.1:{port}/c/fujitsu")
        assert page.status_code == 200
        assert "Defend the union at Fujitsu" in page.text
        assert f"  http://127.0.0.1:{port}/c/fujitsu\n" in daemon.output()
        assert "<campaign>" not in daemon.output()
    finally:
        assert daemon.terminate() == 0


def test_the_web_command_serves_the_pages_alone(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle
) -> None:
    port = free_port()
    config = _config(tmp_path, empty_database, sandbox, port)
    process = subprocess.Popen(
        [sys.executable, "main.py", "--config", str(config), "web"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = _get(f"http://127.0.0.1:{port}/c/fujitsu")
        assert page.status_code == 200
        assert "Support with X" in page.text
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
