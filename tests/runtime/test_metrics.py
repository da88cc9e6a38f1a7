"""/metrics: what the engine counted and what the database knows, in Prometheus's text
format, from real sends on the sandbox; and METRICS_BIND, which serves /healthz, /readyz
and /metrics apart from the public pages."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.enqueue import apply_specs
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.monitoring.metrics import DatabaseCollector, Metrics
from bot.platforms.base import AuthError, PermanentError, TransientError
from bot.runtime.process import Process, ProcessOptions, start_everything
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.settings import ConfigError, Secret, load_settings
from bot.storage.models import Account, Campaign, Delivery, DeliveryState
from bot.storage.vault import Vault
from tests.support.engagement import Clock, World, make_platforms
from tests.support.factories import add_account, queue, spec
from tests.support.fakes import FakeAsyncPlatform, FakePlatform
from tests.support.pledge_release import pledged_campaign, run_daemon_until_final, sandbox_runtime
from tests.support.processes import write_config
from tests.support.waiting import wait_for

RUN = ProcessOptions(examples=False, web_port=0)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(address: str) -> Samples:
    answer = requests.get(f"{address}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return parse(answer.text)


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def said(message: str, *, err: bool = False) -> None:
    """Start-up messages are not what these tests look at."""


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def rehearsal(tmp_path: Path, database_url: str, sandbox_url: str, **extra: object) -> Runtime:
    """A runtime on a sandbox whose /metrics reads the database at every scrape."""
    config = write_config(
        tmp_path / "config.env",
        database_url,
        sandbox_url,
        web_host="127.0.0.1",
        web_secret_key=secrets.token_urlsafe(32),
        poll_interval_seconds=0.2,
        **extra,
    )
    base = Runtime(load_settings(config, environ={}))
    base.migrate()
    return Runtime(base.settings, base.engine, metrics=Metrics(base.sessions, cache_seconds=0))


@pytest.fixture
def started() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


def queue_now(runtime: Runtime, *targets: str, seconds: float = 1.0) -> None:
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    with runtime.sessions() as session:
        apply_specs(session, [spec("Rally at noon", at=at, to=targets)], now=datetime.now(UTC))


def delivery_states(runtime: Runtime) -> list[str]:
    with runtime.sessions() as session:
        return sorted(session.scalars(select(Delivery.state)))


def secret_values(runtime: Runtime) -> list[str]:
    """Every secret setting of the running process, and the accounts' stored tokens."""
    settings = runtime.settings
    found = [
        v.reveal()
        for f in fields(settings)
        if isinstance(v := getattr(settings, f.name), Secret) and v
    ]
    with runtime.sessions() as session:
        for sealed in session.scalars(select(Account.credentials)):
            creds = runtime.vault.open(sealed)
            found += [creds.token, *([creds.secret] if creds.secret else [])]
    return found


def test_a_real_send_on_the_sandbox_is_counted_in_metrics(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle, started: list[Process]
) -> None:
    runtime = rehearsal(tmp_path, empty_database, sandbox.url)
    process = start_everything(runtime, RUN, said)
    started.append(process)
    assert process.web_address is not None and process.health_address is None
    before = scrape(process.web_address)
    assert value(before, "clarion_delivery_start_lateness_seconds_count", platform="x") is None
    assert value(before, "clarion_deliveries_in_flight") == 0

    queue_now(process.runtime, "x", "facebook")
    assert wait_for(lambda: delivery_states(runtime) == ["sent", "sent"], timeout=20)

    def both_counted() -> bool:  # the dispatcher counts a send just after it is recorded
        got = scrape(process.web_address)
        return all(
            value(got, "clarion_delivery_attempts_total", platform=p, outcome="sent") == 1
            for p in ("x", "facebook")
        )

    assert wait_for(both_counted)
    after = scrape(process.web_address)

    for platform in ("x", "facebook"):
        assert value(after, "clarion_deliveries", state="sent", platform=platform) == 1
        assert (
            value(after, "clarion_delivery_attempts_total", platform=platform, outcome="sent") == 1
        )
        lateness = "clarion_delivery_start_lateness_seconds"
        assert value(after, f"{lateness}_count", platform=platform) == 1
        assert 0 <= (value(after, f"{lateness}_sum", platform=platform) or -1) < 5
        assert value(after, "clarion_delivery_acknowledged_seconds_count", platform=platform) == 1
        assert value(after, "clarion_platform_reachable", platform=platform) == 1
    assert value(after, "clarion_deliveries", state="pending", platform="x") is None
    assert value(after, "clarion_deliveries_in_flight") == 0
    assert value(after, "clarion_database_up") == 1
    tick = value(after, "clarion_scheduler_last_tick_timestamp_seconds")
    assert tick is not None and abs(tick - datetime.now(UTC).timestamp()) < 60

    ready = requests.get(f"{process.web_address}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["platforms"]["x"]["reachable"] is True
    # Nothing of the process's secrets, nor the accounts' tokens, in any of the three.
    shown = "".join(
        requests.get(f"{process.web_address}{path}", timeout=10).text
        for path in ("/healthz", "/readyz", "/metrics")
    )
    values = secret_values(process.runtime)
    assert len(values) >= 4  # web key, encryption key, the sandbox app's, the accounts'
    for secret in values:
        assert secret not in shown


def test_a_platform_answering_errors_is_counted_by_class_and_makes_readyz_name_it(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle, started: list[Process]
) -> None:
    runtime = rehearsal(tmp_path, empty_database, sandbox.url)
    process = start_everything(runtime, RUN, said)
    started.append(process)
    assert process.web_address is not None
    sandbox.admin.set_faults("x", error_rate=1.0)
    queue_now(process.runtime, "x")
    errors = ("clarion_delivery_errors_total", {"platform": "x", "kind": "transient"})
    assert wait_for(lambda: (value(scrape(process.web_address), errors[0], **errors[1]) or 0) >= 1)
    samples = scrape(process.web_address)
    assert value(samples, "clarion_platform_reachable", platform="x") == 0
    ready = requests.get(f"{process.web_address}/readyz", timeout=10)
    assert ready.status_code == 503
    assert "platforms: x did not answer at the last attempt" in ready.json()["reasons"]


def test_metrics_bind_serves_health_and_metrics_apart_and_not_on_the_public_server(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle, started: list[Process]
) -> None:
    port = free_port()
    runtime = rehearsal(tmp_path, empty_database, sandbox.url, metrics_bind=f"127.0.0.1:{port}")
    process = start_everything(runtime, RUN, said)
    started.append(process)
    assert process.health_address == f"http://127.0.0.1:{port}"
    assert process.web_address is not None
    for path in ("/healthz", "/readyz", "/metrics"):
        assert requests.get(f"{process.web_address}{path}", timeout=10).status_code == 404
    assert requests.get(f"{process.health_address}/healthz", timeout=10).json() == {"status": "ok"}
    assert wait_for(
        lambda: requests.get(f"{process.health_address}/readyz", timeout=10).status_code == 200
    )
    assert value(scrape(process.health_address), "clarion_database_up") == 1
    # ...and only those: the pages are not served there.
    assert requests.get(f"{process.health_address}/", timeout=10).status_code == 404
    assert requests.get(f"{process.web_address}/", timeout=10).status_code == 200


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_metrics_bind_on_an_ipv6_address_is_served_there(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle, started: list[Process]
) -> None:
    # config check takes [::1]:PORT, so run must be able to listen on it.
    port = free_port()
    runtime = rehearsal(tmp_path, empty_database, sandbox.url, metrics_bind=f"[::1]:{port}")
    process = start_everything(runtime, RUN, said)
    started.append(process)
    assert process.health_address == f"http://[::1]:{port}"
    assert requests.get(f"{process.health_address}/healthz", timeout=10).json() == {"status": "ok"}


def test_a_metrics_bind_that_is_not_host_and_port_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"METRICS_BIND='9090'.*HOST:PORT"):
        load_settings(None, environ={"METRICS_BIND": "9090"})
    chosen = load_settings(None, environ={"METRICS_BIND": "127.0.0.1:9090"})
    assert chosen.metrics_address == ("127.0.0.1", 9090)


def test_a_release_shows_its_progress_as_sent_of_total(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    runtime = sandbox_runtime(engine, database_url, sandbox.url, sandbox.admin)
    run = pledged_campaign(runtime, sandbox.admin, x=3, facebook=1, release_in=1)
    run_daemon_until_final(run, timeout=30)
    samples = parse(Metrics(runtime.sessions).exposition().decode())
    assert value(samples, "clarion_release_sent", campaign="fujitsu") == 4
    assert value(samples, "clarion_release_total", campaign="fujitsu") == 4


# --- the engine's calls, on fakes ---------------------------------------------------


def test_each_class_of_platform_error_is_counted_per_platform_with_rate_limit_waits(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    add_account(sessions, vault, user_id="42")
    queue(sessions, *[spec(f"Post {n}", at=datetime.now(UTC)) for n in range(4)], allow_past=True)
    x = FakePlatform("x")
    # The rate limit last: it closes the account's gate for the posts after it.
    x.fail_next(
        PermanentError("too long"),
        "accept_then_lose",
        AuthError("token revoked"),
        TransientError("slow down", rate_limited=True, retry_after=30),
    )
    metrics = Metrics()
    deliverer = Deliverer(Ledger(sessions, "w"), {"x": x}, vault, RetryPolicy(), metrics=metrics)
    with sessions() as session:
        ids = list(session.scalars(select(Delivery.id).order_by(Delivery.id)))
    for delivery_id in ids:
        deliverer.run(delivery_id)
    got = parse(metrics.exposition().decode())
    for kind in ("transient", "auth", "permanent", "unknown"):
        assert value(got, "clarion_delivery_errors_total", platform="x", kind=kind) == 1, kind
    waits = {"platform": "x", "work": "delivery"}
    assert value(got, "clarion_rate_limit_waits_total", **waits) == 1
    assert value(got, "clarion_rate_limit_wait_seconds_total", **waits) == 30
    # A rate limit is an answer: X was reached.
    assert metrics.reach()["x"].reachable is True


def test_a_retry_is_counted_and_the_send_after_it(
    sessions: sessionmaker[Session], vault: Vault, daemons
) -> None:
    add_account(sessions, vault, user_id="42")
    x = FakeAsyncPlatform("x")
    x.fail_next(TransientError("x answered 502"))
    queue(sessions, spec("Rally", at=datetime.now(UTC) + timedelta(seconds=0.5)))
    daemon = daemons(x, RetryPolicy(base_seconds=0.1, max_seconds=0.2))
    metrics = daemon.deliverer.metrics
    assert wait_for(lambda: delivery_states_in(sessions) == [DeliveryState.SENT])
    # The dispatcher counts a send just after the ledger records it: wait for the count.
    assert wait_for(
        lambda: (
            value(
                parse(metrics.exposition().decode()),
                "clarion_delivery_attempts_total",
                platform="x",
                outcome="sent",
            )
            == 1
        )
    )
    got = parse(metrics.exposition().decode())
    assert value(got, "clarion_delivery_retries_total", platform="x") == 1
    assert value(got, "clarion_delivery_attempts_total", platform="x", outcome="retry") == 1
    assert value(got, "clarion_delivery_attempts_total", platform="x", outcome="sent") == 1
    assert value(got, "clarion_delivery_acknowledged_seconds_count", platform="x") == 1
    assert value(got, "clarion_delivery_start_lateness_seconds_count", platform="x") == 2


def delivery_states_in(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Delivery.state)))


def test_the_database_is_read_once_per_cache_period_however_often_it_is_scraped(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    add_account(sessions, vault, user_id="42")
    queue(sessions, spec("One"))
    seconds = [0.0]
    collector = DatabaseCollector(sessions, cache_seconds=5, monotonic=lambda: seconds[0])

    def pending() -> float:
        family = next(f for f in collector.collect() if f.name == "clarion_deliveries")
        return sum(s.value for s in family.samples if s.labels["state"] == "pending")

    assert pending() == 1
    queue(sessions, spec("Two"))
    seconds[0] = 4.9
    assert pending() == 1
    seconds[0] = 5.0
    assert pending() == 2


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.attempts.labels("x", "sent").inc()
    assert first.registry is not second.registry
    assert value(parse(second.exposition().decode()), "clarion_delivery_attempts_total") is None


def test_an_engagement_round_counts_its_reads_calls_x_cost_and_rate_limits(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    with running_sandbox() as sandbox:
        admin = sandbox.admin
        world = World(sandbox, sessions, vault, make_platforms(sandbox.url, admin.app()), Clock())
        with sessions() as session:
            campaign = Campaign(slug=world.slug, title="Demo", timezone="UTC")
            session.add(campaign)
            session.commit()
            world.campaign_id = campaign.id
        post = world.post()
        world.send(post, world.x_account())
        world.send(post, world.facebook_page())
        metrics = Metrics()
        poller = world.poller(metrics=metrics, x_read_cost=0.005)
        world.advance(3600)
        result = poller.run()
        got = parse(metrics.exposition().decode())
        assert value(got, "clarion_engagement_reads_total", platform="x") == 1
        assert value(got, "clarion_engagement_reads_total", platform="facebook") == 1
        assert value(got, "clarion_engagement_calls_total") == result.calls >= 2
        assert value(got, "clarion_engagement_x_billable_reads_total") == 1
        assert value(got, "clarion_engagement_x_read_cost_usd_total") == pytest.approx(0.005)

        # Reads beyond X's per-user limit: a 429, counted as the poller's wait.
        admin.set_rate_limits(x_posts_per_user=1000, x_reads_per_user=1, reset_counters=True)
        account = world.x_account()
        for _ in range(150):
            world.send(world.post(), account)
        world.advance(3600)
        assert world.poller(metrics=metrics, concurrency=1).run().deferred == 50
        got = parse(metrics.exposition().decode())
        waits = {"platform": "x", "work": "engagement"}
        assert value(got, "clarion_rate_limit_waits_total", **waits) == 1
        assert value(got, "clarion_engagement_deferred_total") == 50
