"""Clarion's own processes, started as an operator would: for end-to-end tests and benches.

A sandbox (``python -m bot.sandbox``) and a daemon (``python main.py run``) as child
processes, talking real HTTP on loopback, sharing one config file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.vault import generate_key

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, database_url: str, sandbox_url: str, **extra: Any) -> Path:
    lines = [
        f"DATABASE_URL={database_url}",
        f"TOKEN_ENCRYPTION_KEYS={generate_key()}",
        f"SANDBOX_URL={sandbox_url}",
        "SANDBOX=on",
        "LOG_LEVEL=info",
        f"SCHEDULES_DIR={path.parent / 'no-schedules'}",
    ]
    lines += [f"{key.upper()}={value}" for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def clean_env() -> dict[str, str]:
    """The environment without Clarion settings, so only the config file speaks; with
    Python's fault handler on, so a hung child can be made to show its stacks."""
    from bot.settings import SETTINGS

    names = {s.name for s in SETTINGS}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["PYTHONFAULTHANDLER"] = "1"
    return env


def runtime_for(config: Path) -> Runtime:
    """A runtime in this process on the same config file as the child processes."""
    runtime = Runtime(load_settings(config, environ={}))
    runtime.migrate()
    return runtime


def cli(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "main.py", "--config", str(config), *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"main.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def cli_json(config: Path, *args: str) -> Any:
    return json.loads(cli(config, *args, "--json").stdout)


class DaemonProcess:
    """``python main.py run`` in a child process; output kept in a file for post-mortems."""

    READY = "Clarion is running"

    def __init__(self, config: Path, *args: str) -> None:
        """``args``: more options for `run`, e.g. ``"--role", "worker"``."""
        self.config = config
        self.log: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open
            prefix="clarion-daemon-", suffix=".log", delete=False
        )
        self.process = subprocess.Popen(
            [sys.executable, "main.py", "--config", str(config), "run", "--no-examples", *args],
            cwd=ROOT,
            env=clean_env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self, timeout: float = 30.0) -> DaemonProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.READY in self.output():
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"daemon exited {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise AssertionError(f"daemon not ready after {timeout} s:\n{self.output()}")

    def peak_memory_kib(self) -> int | None:
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM, as an operator's Ctrl-C or systemd would; a daemon that has not stopped
        after ``timeout`` seconds is made to print every thread's stack (SIGABRT with the
        fault handler on) and the test fails with its log."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            if self.process.poll() is None:
                self.kill()
            raise AssertionError(
                f"the daemon did not stop within {timeout} s of SIGTERM; its log and "
                f"stacks:\n{self.output()[-20000:]}"
            ) from None

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.kill()
