"""The deploy files: the systemd unit passes systemd's own check, the compose file sets
only settings Clarion knows, and the Dockerfile copies files that exist."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bot.settings import SETTINGS

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "clarion.service"
# Not Clarion settings: uvicorn reads this one itself (README, "Campaign pages").
NOT_CLARION = {"FORWARDED_ALLOW_IPS"}


def example_settings() -> set[str]:
    text = (ROOT / "config.env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def units_as_installed_here(tmp_path: Path) -> dict[str, Path]:
    """The units with ExecStart pointed at this checkout's `clarion` (the units'
    /opt/clarion is not installed on a test machine); nothing else changed."""
    here = shutil.which("clarion") or sys.executable
    copies = {}
    for unit in sorted([*DEPLOY.glob("*.service"), *DEPLOY.glob("*.timer")]):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace("/opt/clarion/.venv/bin/clarion", here))
        copies[unit.name] = copy
    return copies


def verify(*units: Path) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: the systemd package)")
    return subprocess.run(
        [analyze, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_systemd_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path):
    units = units_as_installed_here(tmp_path)
    assert set(units) == {"clarion.service", "clarion-backup.service", "clarion-backup.timer"}
    result = verify(*units.values())
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_systemd_analyze_would_catch_a_mistyped_directive(tmp_path: Path):
    unit = units_as_installed_here(tmp_path)["clarion.service"]
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strickt"))
    assert "strickt" in verify(unit).stderr


def test_the_unit_is_hardened_and_stops_with_sigterm_and_time_to_finish():
    directives = dict(
        line.split("=", 1) for line in UNIT.read_text().splitlines() if re.match(r"^\w+=", line)
    )
    assert directives["ProtectSystem"] == "strict" and directives["ProtectHome"] == "yes"
    assert directives["PrivateTmp"] == "yes" and directives["NoNewPrivileges"] == "yes"
    assert directives["Restart"] == "on-failure" and directives["KillSignal"] == "SIGTERM"
    assert set(directives["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert int(directives["TimeoutStopSec"]) > 30  # HTTP_TIMEOUT_SECONDS' default
    assert "ExecReload" not in directives  # Clarion does not reload its settings
    assert directives["StateDirectory"] == "clarion" and directives["User"] == "clarion"


def test_every_variable_the_compose_file_sets_for_clarion_is_in_config_env_example():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    service = compose["services"]["clarion"]
    clarions = {
        name: each
        for name, each in compose["services"].items()
        if each.get("command", [""])[0] == "clarion"
    }
    assert set(clarions) == {"clarion", "scheduler", "worker"}
    for name, each in clarions.items():
        names = set(each["environment"])
        assert names - NOT_CLARION <= example_settings(), (name, names - example_settings())
        # Schedulers and workers sign Bluesky refreshes and write links with WEB_BASE_URL:
        # left out, it would fall back to http://127.0.0.1:8080 inside their containers.
        assert {"DATABASE_URL", "WEB_BASE_URL"} <= names, name
        assert each["environment"]["WEB_BASE_URL"].startswith("${WEB_BASE_URL:?"), name
    assert {s.name for s in SETTINGS} == example_settings()
    db = compose["services"]["db"]
    assert db["healthcheck"]["test"] and service["depends_on"]["db"]["condition"] == (
        "service_healthy"
    )
    assert service["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")


def test_the_dockerfile_copies_only_paths_that_exist_and_runs_as_a_user():
    text = (DEPLOY / "Dockerfile").read_text()
    copied = []
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _destination = line.split()[1:]
            copied += [s for s in sources if not s.startswith("--")]
    assert copied
    for source in copied:
        assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is missing"
    assert re.search(r"^USER clarion$", text, flags=re.M)
    assert re.search(r"^ENV DATABASE_URL=", text, flags=re.M)
    env_names = set(re.findall(r"^\s+(?:ENV )?([A-Z_]+)=", text, flags=re.M))
    clarion_env = {n for n in env_names if not n.startswith(("PYTHON", "PIP"))}
    assert clarion_env and clarion_env <= example_settings()
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text()
    for source in copied:
        assert f"!{source.rstrip('/')}" in ignored.replace("/\n", "\n"), source


def test_the_build_requires_a_setuptools_that_reads_the_license_as_written():
    # `license = "SPDX expression"` (PEP 639) is read from setuptools 77 on; an older one
    # stops `pip install /opt/clarion` with "project.license must be valid".
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(project["project"]["license"], str)
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", setuptools)
    assert minimum is not None and int(minimum.group(1)) >= 77, setuptools


@contextlib.contextmanager
def answering_readyz(status: int) -> Iterator[int]:
    """A loopback server whose /readyz answers ``status`` (and anything else 404); its port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(status if self.path == "/readyz" else 404)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("name", ["scheduler", "worker"])
def test_the_scale_out_services_check_their_own_readyz_on_their_metrics_bind(name: str):
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    service = compose["services"][name]
    environment = service["environment"]
    assert set(environment) <= example_settings(), set(environment) - example_settings()
    port = environment["METRICS_BIND"].rpartition(":")[2]
    check = service["healthcheck"]
    assert not check.get("disable")
    kind, program, *args = check["test"]
    assert kind == "CMD" and program == "python"
    command = list(args)
    assert any(f"127.0.0.1:{port}/readyz" in arg for arg in command), command
    # The command as Docker would run it, against /readyz answering ready, then not ready.
    for status, healthy in ((200, True), (503, False)):
        with answering_readyz(status) as here:
            moved = [arg.replace(f":{port}/", f":{here}/") for arg in command]
            result = subprocess.run(
                [sys.executable, *moved], capture_output=True, timeout=30, check=False
            )
        assert (result.returncode == 0) is healthy, (status, result.stderr)


def test_the_database_service_ends_a_vanished_machines_sessions_within_half_a_minute():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    command = compose["services"]["db"]["command"]
    settings = dict(arg.split("=", 1) for arg in command if "=" in arg)
    idle, interval, count = (
        int(settings[f"tcp_keepalives_{name}"]) for name in ("idle", "interval", "count")
    )
    assert idle + interval * count <= 30
