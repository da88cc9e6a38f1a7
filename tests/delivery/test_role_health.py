"""Scaled-out schedulers and workers answer /healthz, /readyz and /metrics on their own
METRICS_BIND: a worker is ready while it holds its lease and its dispatcher runs, a
scheduler while it is active or a healthy standby (and says which), and each one's
/metrics shows its own figures.

Real processes (`python main.py run --role ...`) on a PostgreSQL database of their own
(tests/delivery/conftest.py), talking to a sandbox in this process."""

from __future__ import annotations

import re
import signal
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from bot.campaigns.enqueue import apply_specs
from bot.campaigns.specs import PostSpec
from bot.delivery.leases import LEASE_CLASS
from bot.runtime.rehearsal import ensure_campaign_accounts
from bot.sandbox.testing import SandboxAdmin, free_port, running_sandbox
from bot.storage.models import Delivery, DeliveryState
from tests.support.cli import Cli
from tests.support.processes import DaemonProcess, cli, runtime_for, write_config

ACTIVE = "is now the active scheduler"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with running_sandbox() as handle:
        yield handle.url


class Role:
    """A role's process with METRICS_BIND on a port of its own (a config file of its own:
    the processes share everything else)."""

    def __init__(self, base: Path, role: str, **extra: object) -> None:
        self.port = free_port()
        config = base.with_name(f"{role}-{self.port}.env")
        lines = [f"METRICS_BIND=127.0.0.1:{self.port}"]
        lines += [f"{key.upper()}={value}" for key, value in extra.items()]
        config.write_text(base.read_text() + "\n".join(lines) + "\n")
        self.process = DaemonProcess(config, "--role", role)

    def get(self, path: str) -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=10)

    def metric(self, line: str) -> float:
        """The value of the sample named ``line`` (name and labels) in /metrics."""
        text_ = self.get("/metrics").text
        found = re.search(rf"^{re.escape(line)} (\S+)$", text_, flags=re.M)
        assert found, f"{line} not in /metrics:\n{text_}"
        return float(found.group(1))

    def stop(self) -> None:
        if self.process.process.poll() is None:
            self.process.terminate()


def config_on(tmp_path: Path, database_url: str, sandbox: str) -> Path:
    return write_config(tmp_path / "config.env", database_url, sandbox)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def stop_all(roles: list[Role]) -> None:
    """SIGTERM to every role at once, then wait for each (they stop in parallel)."""
    running = [r for r in roles if r.process.process.poll() is None]
    for role in running:
        role.process.process.send_signal(signal.SIGTERM)
    for role in running:
        role.stop()


@pytest.mark.slow
def test_schedulers_say_active_or_standby_and_a_worker_counts_its_send_in_its_metrics(
    tmp_path, postgres_url, sandbox
):
    config = config_on(tmp_path, postgres_url, sandbox)
    runtime = runtime_for(config)  # migrates before the roles start, so none races another
    roles: list[Role] = []
    try:
        admin = SandboxAdmin(sandbox)
        ensure_campaign_accounts(runtime.with_sandbox(sandbox, admin.app()), admin)
        roles += [Role(config, "scheduler"), Role(config, "scheduler"), Role(config, "worker")]
        for role in roles:
            role.process.wait_ready()
        schedulers, worker = roles[:2], roles[2]
        wait_for(
            lambda: any(ACTIVE in s.process.output() for s in schedulers),
            10,
            "a scheduler became active",
        )
        [active] = [s for s in schedulers if ACTIVE in s.process.output()]
        [standby] = [s for s in schedulers if s is not active]
        assert f"on http://127.0.0.1:{worker.port} (/healthz, /readyz, /metrics)" in (
            worker.process.output()
        )

        for role in roles:
            assert role.get("/healthz").json() == {"status": "ok"}
        ready = active.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["role"] == "scheduler" and ready.json()["state"] == "active"
        waiting = standby.get("/readyz")
        # A standby is ready: an orchestrator must not take a 503 as "restart it".
        assert waiting.status_code == 200, waiting.text
        assert waiting.json()["state"] == "standby"
        assert waiting.json()["checks"]["scheduler"]["ok"] is True
        assert active.metric("clarion_scheduler_active") == 1
        assert standby.metric("clarion_scheduler_active") == 0
        assert standby.metric("clarion_scheduler_jobs_deferred_total") == 0

        due = datetime.now(UTC) + timedelta(seconds=1)
        spec = PostSpec(
            campaign="health",
            key="one",
            scheduled_at=due,
            timezone="UTC",
            targets=("x",),
            parts={"x": ("Solidarity with the Fujitsu reps",)},
        )
        with runtime.sessions() as session:
            apply_specs(session, [spec], now=datetime.now(UTC))

        def sent() -> bool:
            with runtime.sessions() as session:
                return session.scalar(select(Delivery.state)) == DeliveryState.SENT

        wait_for(sent, 20, "the post went out")

        sample = 'clarion_delivery_attempts_total{outcome="sent",platform="x"}'
        assert worker.metric(sample) == 1
        assert worker.metric("clarion_delivery_claims_total") == 1
        assert worker.metric("clarion_deliveries_in_flight") == 0
        assert worker.metric("clarion_worker_lease_held") == 1
        assert worker.metric("clarion_worker_dispatcher_running") == 1
        assert re.search(r'^clarion_role_info\{name="[^"]+",role="worker"\} 1\.0$',
                         worker.get("/metrics").text, flags=re.M)  # fmt: skip
        assert active.metric("clarion_scheduler_jobs_deferred_total") >= 1
        assert active.metric("clarion_scheduler_live_workers") == 1
        assert active.metric("clarion_scheduler_dead_claims_settled_total") == 0
        work = worker.get("/readyz")
        assert work.status_code == 200, work.text
        assert work.json()["state"] == "running"
        assert work.json()["checks"]["lease"] == {"ok": True, "held": True}

        # In this process (click's runner): a fourth interpreter starting costs seconds.
        runner = CliRunner(env={k: None for k in ("DATABASE_URL", "TIMEZONE")})
        status = Cli(config, runner)("status").output
        assert "running: 0 daemons, 2 schedulers, 1 worker" in status, status
        assert "holding a worker's lease now: 1 worker" in status
    finally:
        stop_all(roles)
        runtime.close()


@pytest.mark.slow
def test_a_worker_that_lost_its_lease_and_then_its_database_answers_not_ready_naming_each(
    tmp_path, postgres_url, sandbox
):
    config = config_on(tmp_path, postgres_url, sandbox)
    # The worker looks at its lease only every 30 s itself (and then stops), so what
    # /readyz answers in between is its own look at the database.
    worker = Role(config, "worker", poll_interval_seconds=30)
    name = make_url(postgres_url).database
    admin = create_engine(
        make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        worker.process.wait_ready()
        assert worker.get("/readyz").status_code == 200
        with admin.connect() as conn:
            ended = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                    "'advisory' AND classid = :lease AND objsubid = 2"
                ),
                {"lease": LEASE_CLASS},
            ).scalars()
            assert list(ended) == [True]
        lost = worker.get("/readyz")
        assert lost.status_code == 503, lost.text
        assert lost.json()["checks"]["lease"]["ok"] is False
        assert lost.json()["checks"]["database"]["ok"] is True
        assert [r for r in lost.json()["reasons"] if r.startswith("lease: ")], lost.text
        assert worker.get("/healthz").status_code == 200  # it answers: no reason to kill it

        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )
        gone = worker.get("/readyz")
        assert gone.status_code == 503, gone.text
        body = gone.json()
        assert body["checks"]["database"] == {"ok": False, "error": "OperationalError"}
        assert "database: did not answer (OperationalError)" in body["reasons"]
        assert name not in gone.text and "127.0.0.1" not in gone.text  # no URL shown
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
        worker.stop()


def test_a_role_whose_metrics_port_is_taken_refuses_to_start_saying_so(
    tmp_path, postgres_url, sandbox
):
    config = config_on(tmp_path, postgres_url, sandbox)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bind = f"127.0.0.1:{taken.getsockname()[1]}"
        config.write_text(config.read_text() + f"METRICS_BIND={bind}\n")
        result = cli(config, "run", "--no-examples", "--role", "worker", check=False)
    assert result.returncode != 0
    assert f"cannot serve /healthz, /readyz and /metrics on METRICS_BIND={bind}" in (
        result.stderr
    ), result.stderr
    assert "Clarion is running" not in result.stdout


@pytest.mark.slow
def test_a_role_without_metrics_bind_says_at_start_that_it_serves_no_health_or_metrics(
    tmp_path, postgres_url, sandbox
):
    config = config_on(tmp_path, postgres_url, sandbox)
    with DaemonProcess(config, "--role", "worker") as worker:
        worker.wait_ready()
        assert (
            "no /healthz, /readyz or /metrics for this worker: set METRICS_BIND=HOST:PORT "
            "(one per process)" in worker.output()
        ), worker.output()
        worker.terminate()
