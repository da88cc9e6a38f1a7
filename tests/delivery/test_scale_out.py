"""Scaled out on PostgreSQL: a scheduler and several worker processes share a release
through Procrastinate, a worker SIGKILLed mid-release loses and doubles nothing, and a
standby scheduler takes over within 10 s of the active one dying.

Real processes (`python main.py run --role ...`) against a sandbox process, on a
PostgreSQL database of their own: the suite's server with CLARION_TEST_DB=postgres, else
one started here from the machine's binaries (skipped when it has none)."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text

from bot.campaigns.enqueue import apply_specs
from bot.campaigns.specs import PostSpec
from bot.delivery import leases
from bot.sandbox.testing import SandboxAdmin, free_port, sandbox_process
from bot.storage.models import Delivery, DeliveryState
from tests.support.pledge_release import ledger_against_sandbox, release_in, seeded_campaign
from tests.support.processes import DaemonProcess, cli, runtime_for, write_config
from tests.support.waiting import seconds_until

SUPPORTERS = 2_500  # on each of X and Facebook: a release of 5,000 deliveries

ACTIVE = "is now the active scheduler"


@pytest.fixture
def sandbox() -> Iterator[str]:
    # Latency keeps many requests in flight, so the kill lands mid-send.
    with sandbox_process("--latency-ms", "100") as url:
        yield url


def configured(tmp_path: Path, database_url: str, sandbox: str) -> Path:
    admin = SandboxAdmin(sandbox)
    admin.set_rate_limits(x_posts_per_user=100_000, x_posts_per_app=1_000_000)
    config = write_config(
        tmp_path / "config.env",
        database_url,
        sandbox,
        delivery_concurrency=8,
        retry_base_seconds=0.2,
        max_attempts=20,
        # A dead worker's claims are settled HTTP_TIMEOUT_SECONDS + 10 s after they were
        # made: short here (16 s), so the test is quick, yet long enough that a shared
        # 2-core machine under load does not time out sends into checks.
        http_timeout_seconds=6,
    )
    # Migrates, and registers the campaign's stand-in accounts on the sandbox.
    with DaemonProcess(config) as first:
        first.wait_ready()
        first.terminate()
    return config


@pytest.mark.slow
def test_a_release_on_three_workers_goes_out_once_though_a_worker_and_the_scheduler_die(
    tmp_path, postgres_url, sandbox
):
    """A pledge release of 5,000 posts, one per supporter's account (2,500 on X, 2,500
    Pages), due at one instant: the scheduler writes it, three workers send it."""
    config = configured(tmp_path, postgres_url, sandbox)
    runtime = runtime_for(config)
    admin = SandboxAdmin(sandbox)
    run, old_posts = seeded_campaign(runtime, admin, x=SUPPORTERS, facebook=SUPPORTERS, window=0)
    total = 2 * SUPPORTERS
    scheduler = DaemonProcess(config, "--role", "scheduler").wait_ready()
    seconds_until(lambda: ACTIVE in scheduler.output(), 10, "the scheduler became active")
    standby = DaemonProcess(config, "--role", "scheduler")
    workers = [DaemonProcess(config, "--role", "worker") for _ in range(3)]
    processes = [scheduler, standby, *workers]
    started = time.monotonic()
    try:
        for process in processes:
            process.wait_ready(timeout=60)
        assert ACTIVE not in standby.output()
        # Released once every worker holds its lease, so the scheduler defers a job for
        # each of them, however long they took to start.
        seconds_until(lambda: leases.live_workers(runtime.engine) == 3, 30, "three workers leased")
        release_in(run, 1)
        by_pid = {f":{w.process.pid}": w for w in workers}

        def states() -> Counter[tuple[str, str | None]]:
            with runtime.sessions() as session:
                rows = session.execute(
                    select(Delivery.state, Delivery.claimed_by).where(
                        Delivery.state.in_(
                            (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.SENT)
                        )
                    )
                ).all()
            return Counter((state, by) for state, by in rows)

        def sent(now: Counter[tuple[str, str | None]]) -> int:
            return sum(n for (state, _), n in now.items() if state == DeliveryState.SENT)

        # The worker is killed mid-release, on observed state: once a tenth of the release
        # is sent, the one with the most claims in flight (``sending``) at that moment.
        in_flight: Counter[str | None] = Counter()

        def a_tenth_sent_and_a_worker_sending() -> bool:
            now = states()
            in_flight.clear()
            in_flight.update(
                {by: n for (state, by), n in now.items() if state == DeliveryState.SENDING}
            )
            return sent(now) >= total // 10 and bool(in_flight)

        seconds_until(a_tenth_sent_and_a_worker_sending, 60, "a worker had claims in flight")
        victim_name = str(in_flight.most_common(1)[0][0])
        victim = by_pid[victim_name[victim_name.rindex(":") :]]
        victim.kill()
        killed_at = sent(states())

        # The scheduler is killed once the survivors have sent another tenth (or, on a
        # fast machine, have nothing left to claim): the dead worker's claims stay
        # ``sending`` until their lease runs out (16 s), so the release cannot have
        # ended, and the standby must settle them.
        def survivors_went_on() -> bool:
            now = states()
            pending = sum(n for (state, _), n in now.items() if state == DeliveryState.PENDING)
            return sent(now) >= killed_at + total // 10 or not pending

        seconds_until(survivors_went_on, 60, "the surviving workers went on sending")
        scheduler.kill()
        assert (DeliveryState.SENDING, victim_name) in states(), (
            "the scheduler's kill came after the dead worker's claims were settled"
        )
        took_over = seconds_until(lambda: ACTIVE in standby.output(), 10, "the standby took over")
        killed = time.monotonic()

        def all_settled() -> bool:
            with runtime.sessions() as session:
                left = session.scalar(
                    select(Delivery.id).where(Delivery.state.in_(DeliveryState.OPEN)).limit(1)
                )
            return left is None

        try:
            seconds_until(all_settled, 120, "every delivery settled")
        except AssertionError:
            with runtime.sessions() as session:
                stuck = Counter(
                    (r.state, r.claimed_by, r.next_attempt_at.isoformat(timespec="seconds"))
                    for r in session.scalars(select(Delivery))
                    if r.state != DeliveryState.SENT
                )
                jobs = session.execute(
                    text("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")
                ).all()
            raise AssertionError(
                f"{stuck} {jobs} now {datetime.now(UTC)}\n--- standby\n"
                f"{standby.output()[-4000:]}\n--- worker\n{workers[-1].output()[-3000:]}"
            ) from None
        took = time.monotonic() - killed
        released_in = time.monotonic() - started
        with runtime.sessions() as session:
            rows = list(session.scalars(select(Delivery)))
        disagreements = ledger_against_sandbox(run, admin, old_posts)
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.terminate()
        runtime.close()

    assert len(rows) == total
    unsent = [(r.id, r.platform, r.state, r.error) for r in rows if r.state != DeliveryState.SENT]
    assert not unsent, f"not sent: {unsent[:10]}"
    senders = Counter(r.claimed_by for r in rows)
    survivors = set(senders) - {victim_name}
    assert len(survivors) == 2, f"the release was not shared among the workers: {senders}"
    released = [line for line in standby.output().splitlines() if "died mid-send" in line]
    print(
        f"worker killed with {killed_at} of {total} sent and {in_flight[victim_name]} of its "
        f"claims in flight; standby took over {took_over:.1f} s after the scheduler's kill; "
        f"every delivery settled {took:.1f} s after that ({released_in:.1f} s from the "
        f"processes' start); shares {dict(senders)}; {released}"
    )
    assert released, (
        "the kill landed on no claim in flight: the test proved nothing about the lease"
    )
    # Every post exactly once, on its own account, and the ledger's ids are the sandbox's.
    assert not disagreements, disagreements[:10]


@pytest.mark.slow
def test_a_standby_scheduler_takes_over_within_ten_seconds_of_the_active_one_dying(
    tmp_path, postgres_url, sandbox
):
    config = configured(tmp_path, postgres_url, sandbox)
    first = DaemonProcess(config, "--role", "scheduler").wait_ready()
    seconds_until(lambda: ACTIVE in first.output(), 10, "the first scheduler became active")
    second = DaemonProcess(config, "--role", "scheduler").wait_ready()
    worker = DaemonProcess(config, "--role", "worker").wait_ready()
    try:
        time.sleep(2)
        assert ACTIVE not in second.output(), "two schedulers were active at once"
        first.kill()
        took = seconds_until(lambda: ACTIVE in second.output(), 10, "the standby took over")
        # The new scheduler plans: a post queued now goes out through the worker.
        queue_release_of_one(config)
        runtime = runtime_for(config)

        def sent() -> bool:
            with runtime.sessions() as session:
                state = session.scalar(select(Delivery.state))
            return state == DeliveryState.SENT

        seconds_until(sent, 15, "the post queued after the takeover went out")
        runtime.close()
        # SIGTERM: both stop cleanly (sends finished, claims given back, lock let go).
        assert worker.terminate() == 0, worker.output()[-2000:]
        assert second.terminate() == 0, second.output()[-2000:]
        assert "anything not yet sent stays queued" in worker.output()
    finally:
        for process in (first, second, worker):
            if process.process.poll() is None:
                process.terminate()
    print(f"standby took over {took:.1f} s after the active scheduler was killed")
    assert took < 10


def queue_release_of_one(config: Path) -> None:
    runtime = runtime_for(config)
    spec = PostSpec(
        campaign="failover",
        key="after",
        scheduled_at=datetime.now(UTC) + timedelta(seconds=2),
        timezone="UTC",
        targets=("x",),
        parts={"x": ("Posted after the scheduler failed over",)},
    )
    with runtime.sessions() as session:
        apply_specs(session, [spec], now=datetime.now(UTC))
    runtime.close()


def test_workers_and_schedulers_refuse_sqlite_and_say_what_to_do(tmp_path):
    config = write_config(
        tmp_path / "config.env", f"sqlite:///{tmp_path / 'c.db'}", "http://127.0.0.1:9"
    )
    for role in ("worker", "scheduler"):
        result = cli(config, "run", "--role", role, check=False)
        assert result.returncode != 0
        assert "needs PostgreSQL" in result.stderr
        assert "python main.py run" in result.stderr


@pytest.mark.slow
def test_scale_out_roles_and_a_single_machine_daemon_refuse_to_run_together(
    tmp_path, postgres_url, sandbox
):
    config = configured(tmp_path, postgres_url, sandbox)
    with DaemonProcess(config).wait_ready():
        refused = cli(config, "run", "--role", "worker", check=False)
        assert refused.returncode != 0
        assert "single-machine Clarion daemon" in refused.stderr
    with DaemonProcess(config, "--role", "worker").wait_ready():
        refused = cli(config, "run", check=False)
        assert refused.returncode != 0
        assert "already running" in refused.stderr


@pytest.mark.slow
def test_the_web_role_serves_the_pages_and_never_sends(tmp_path, postgres_url, sandbox):
    config = configured(tmp_path, postgres_url, sandbox)
    port = free_port()
    with config.open("a") as file:
        file.write(f"WEB_SECRET_KEY={uuid.uuid4().hex * 2}\nWEB_PORT={port}\n")
    queue_release_of_one(config)
    runtime = runtime_for(config)
    with DaemonProcess(config, "--role", "web") as web:
        web.wait_ready()
        assert "serving the campaign pages and the console" in web.output()
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        time.sleep(4)  # the post fell due 2 s after it was queued
        with runtime.sessions() as session:
            state = session.scalar(select(Delivery.state))
        web.terminate()
    runtime.close()
    assert state == DeliveryState.PENDING
