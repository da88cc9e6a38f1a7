"""What `run` and `web` start, through the composition root (bot/runtime/process.py), on a
sandbox in this process: the CLI only prints what ``say`` is given."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.campaigns.accounts import save_campaign_account
from bot.platforms.base import AccountInfo, Credentials
from bot.runtime.process import Process, ProcessOptions, StartError, start_everything
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import Delivery, Post
from tests.support.processes import runtime_for, write_config

# Port 0: the pages on a free port (WEB_PORT itself must be a real one).
RUN = ProcessOptions(examples=False, web_port=0)
WEB = ProcessOptions(post=False, web_port=0)


class Said:
    """Collects what the process would have printed."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, bool]] = []

    def __call__(self, message: str, *, err: bool = False) -> None:
        self.lines.append((message, err))

    def text(self, *, err: bool) -> str:
        return "\n".join(m for m, e in self.lines if e == err)


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def runtime(tmp_path: Path, empty_database: str, sandbox: SandboxHandle) -> Iterator[Runtime]:
    config = write_config(
        tmp_path / "config.env",
        empty_database,
        sandbox.url,
        web_host="127.0.0.1",
        web_secret_key=secrets.token_urlsafe(32),
        poll_interval_seconds=0.2,
    )
    runtime = runtime_for(config)
    yield runtime
    runtime.close()


@pytest.fixture
def started() -> Iterator[list[Process]]:
    processes: list[Process] = []
    yield processes
    for process in processes:
        process.stop()


def test_a_rehearsal_starts_the_daemon_and_the_pages_and_says_it_is_the_sandbox(
    runtime: Runtime, sandbox: SandboxHandle, started: list[Process]
) -> None:
    said = Said()
    process = start_everything(runtime, RUN, said)
    started.append(process)
    assert process.daemon is not None and process.daemon.scheduler.running
    assert process.sandbox_url == sandbox.url
    assert process.web_address is not None and process.web_address.startswith("http://")
    assert "SANDBOX MODE" in said.text(err=False)
    assert said.text(err=True) == ""
    assert not process.stopping and process.failure is None


def test_a_second_process_on_the_same_database_is_refused_until_the_first_stops(
    runtime: Runtime, started: list[Process]
) -> None:
    first = start_everything(runtime, RUN, Said())
    with pytest.raises(StartError, match="running"):
        start_everything(runtime, RUN, Said())
    first.stop()
    again = start_everything(runtime, RUN, Said())
    started.append(again)
    assert again.daemon is not None and again.daemon.scheduler.running


def test_beside_the_daemon_pages_that_cannot_start_are_a_warning_and_posting_goes_on(
    runtime: Runtime, busy_port: int, started: list[Process]
) -> None:
    said = Said()
    options = ProcessOptions(examples=False, web_port=busy_port)
    process = start_everything(runtime, options, said)
    started.append(process)
    assert process.web_address is None
    assert "NOT served" in said.text(err=True) and "WEB_PORT" in said.text(err=True)
    assert process.daemon is not None and process.daemon.scheduler.running


def test_pages_served_alone_that_cannot_bind_their_port_are_an_error_naming_web_port(
    runtime: Runtime, busy_port: int
) -> None:
    with pytest.raises(StartError, match="WEB_PORT"):
        start_everything(runtime, ProcessOptions(post=False, web_port=busy_port), Said())


def test_pages_served_alone_start_no_daemon(runtime: Runtime, started: list[Process]) -> None:
    said = Said()
    process = start_everything(runtime, WEB, said)
    started.append(process)
    assert process.daemon is None and process.web_address is not None
    assert "supporters sign in on the sandbox" in said.text(err=False)
    # No daemon holds the lock: `run` can start beside `web`.
    beside = start_everything(runtime, RUN, Said())
    started.append(beside)
    assert beside.daemon is not None


def test_a_rehearsal_is_refused_on_a_database_with_the_campaigns_real_accounts(
    runtime: Runtime,
) -> None:
    save_campaign_account(
        runtime,
        "x",
        Credentials("token", "secret"),
        AccountInfo("42", "RealUnion", "Real Union"),
        source="config",
    )
    with pytest.raises(StartError, match="real accounts"):
        start_everything(runtime, RUN, Said())
    # Nothing was left holding the lock.
    lock = runtime.lock()
    lock.acquire()
    lock.release()


def test_a_rehearsal_on_a_fresh_database_takes_over_the_sandboxs_campaign_account(
    runtime: Runtime, sandbox: SandboxHandle, tmp_path: Path, started: list[Process]
) -> None:
    # The sandbox's state (a state file, or SANDBOX_URL's server) outlives the database.
    first = start_everything(runtime, RUN, Said())
    first.stop()
    config = write_config(
        tmp_path / "second.env",
        f"sqlite:///{tmp_path / 'second.db'}",
        sandbox.url,
        web_secret_key=secrets.token_urlsafe(32),
    )
    fresh = runtime_for(config)
    said = Said()
    process = start_everything(fresh, RUN, said)
    started.append(process)
    assert "created the campaign's X account @ClarionCampaign" in said.text(err=False)
    handles = [u["username"] for u in sandbox.admin.x_users()]
    assert handles.count("ClarionCampaign") == 1
    assert "created the campaign's Bluesky account @clarion-campaign.bsky.social" in said.text(
        err=False
    )
    bsky = [a["handle"] for a in sandbox.admin.bluesky_accounts()]
    assert bsky.count("clarion-campaign.bsky.social") == 1
    said_mastodon = "created the campaign's Mastodon account @ClarionCampaign@clarion.social"
    assert said_mastodon in said.text(err=False)
    accounts = [a for a in sandbox.admin.timeline() if a["platform"] == "mastodon"]
    assert [a["name"] for a in accounts] == ["@ClarionCampaign@clarion.social"]


def test_a_first_rehearsal_queues_the_examples_on_all_four_networks(
    tmp_path: Path, empty_database: str, sandbox: SandboxHandle, started: list[Process]
) -> None:
    config = write_config(
        tmp_path / "examples.env",
        empty_database,
        sandbox.url,
        web_secret_key=secrets.token_urlsafe(32),
        schedules_dir=Path(__file__).resolve().parents[2] / "schedules",
    )
    runtime = runtime_for(config)
    said = Said()
    started.append(start_everything(runtime, ProcessOptions(web_port=0), said))
    with runtime.sessions() as session:
        platforms = set(
            session.scalars(
                select(Delivery.platform).join(Post).where(Post.key == "demo-eve")
            ).all()
        )
    runtime.close()
    assert platforms == {"x", "facebook", "bluesky", "mastodon"}
    assert "queued" in said.text(err=False)
