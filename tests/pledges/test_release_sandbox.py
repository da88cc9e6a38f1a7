"""Releases on the sandbox through the real daemon, ledger, tweepy and facebook-sdk."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from bot.pledges.pledging import withdraw
from bot.runtime.process import configure_logging
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import Delivery, Pledge, PledgeState
from tests.pledges.sandboxed import pledged_campaign, run_daemon_until_final, sandbox_runtime


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def posts_by_account(sandbox: SandboxHandle) -> dict[str, list[str]]:
    return {
        str(account["id"]): [p["text"] for p in account["posts"]]
        for account in sandbox.admin.timeline()
    }


@pytest.mark.timeout(120)
def test_a_release_of_1000_pledges_with_faults_posts_each_exactly_once(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    admin = sandbox.admin
    runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
    admin.set_rate_limits(x_posts_per_app=100_000, reset_counters=True)
    run = pledged_campaign(runtime, admin, x=800, facebook=200, release_in=6)
    # Faults at release time: 503s, connection resets, and posts created whose answer is
    # lost (the ledger must find them on the timeline instead of posting them twice).
    for platform in ("x", "facebook"):
        admin.set_faults(
            platform,
            error_rate=0.05,
            reset_rate=0.05,
            accept_then_drop_rate=0.05,
        )
    final = run_daemon_until_final(run, timeout=100)
    admin.set_faults("x", error_rate=0, reset_rate=0, accept_then_drop_rate=0)
    admin.set_faults("facebook", error_rate=0, reset_rate=0, accept_then_drop_rate=0)
    with runtime.sessions() as s:
        errors = Counter(
            f"{d.platform}: {d.error_kind}: {d.error}"
            for d in s.scalars(select(Delivery).where(Delivery.state != "sent"))
        )
    assert final.by_state == {"sent": 1000}, errors.most_common(5)
    posted = posts_by_account(sandbox)
    counts = Counter(len(posted.get(s.user_id, [])) for s in run.supporters)
    assert counts == {1: 1000}  # every pledged account posted once, none twice
    texts = {posted[s.user_id][0].split("\n")[0] for s in run.supporters if s.platform == "x"}
    assert len(texts) == 3  # the message and two variants, handed out in turn


@pytest.mark.timeout(60)
def test_a_token_revoked_before_the_release_marks_that_pledge_and_the_others_go(
    engine: Engine, database_url: str, sandbox: SandboxHandle
) -> None:
    admin = sandbox.admin
    runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
    run = pledged_campaign(runtime, admin, x=6, facebook=2, release_in=3)
    revoked = [run.supporters[1], run.supporters[7]]  # one X user, one Page
    for sup in revoked:
        admin.revoke(sup.platform, sup.token)
    final = run_daemon_until_final(run, timeout=40)
    assert final.by_state == {"sent": 6, "failed": 2} and final.needs_reconnect == 2
    posted = posts_by_account(sandbox)
    with runtime.sessions() as s:
        states = {p.account.platform_user_id: p.state for p in s.scalars(select(Pledge))}
    for sup in run.supporters:
        if sup in revoked:
            assert states[sup.user_id] == PledgeState.NEEDS_RECONNECT
            assert posted.get(sup.user_id, []) == []
        else:
            assert states[sup.user_id] == PledgeState.ACTIVE
            assert len(posted[sup.user_id]) == 1


@pytest.mark.timeout(60)
def test_no_plaintext_token_or_email_reaches_the_database_file_or_the_logs(
    engine: Engine,
    database_url: str,
    sandbox: SandboxHandle,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not database_url.startswith("sqlite:///"):
        pytest.skip("greps the SQLite database file")
    configure_logging("DEBUG")  # the daemon's own logging set-up, at its most verbose
    caplog.set_level(logging.DEBUG)
    admin = sandbox.admin
    runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
    run = pledged_campaign(runtime, admin, x=5, facebook=2, release_in=11, emails=True)
    with runtime.sessions() as s:
        assert withdraw(
            s,
            run.supporters[0].receipt.withdraw_secret,
            datetime.now(UTC),
        )
    admin.revoke("x", run.supporters[1].token)
    run_daemon_until_final(run, timeout=40)
    engine.dispose()
    raw = Path(database_url.removeprefix("sqlite:///")).read_bytes()
    for sibling in ("-wal", "-journal"):
        extra = Path(database_url.removeprefix("sqlite:///") + sibling)
        raw += extra.read_bytes() if extra.exists() else b""
    logs = caplog.text
    secrets = [
        value
        for sup in run.supporters
        for value in (sup.token, sup.secret, sup.email, sup.receipt.withdraw_secret)
        if value
    ]
    assert len(secrets) > 20
    for value in secrets:
        assert value.encode() not in raw, "a plaintext secret or email is in the database file"
        assert value not in logs, "a plaintext secret or email is in the logs"
