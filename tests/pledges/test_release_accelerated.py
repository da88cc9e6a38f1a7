"""A release on `make run`'s accelerated sandbox (1000x): posting is unaffected.

The sandbox's clock runs ahead of ours, so its posts carry sandbox timestamps and its
timeline "since" filter compares our (real) times with them. The ledger's reconciliation
must still find a post whose answer was lost, never post twice, and the release must go
out at its real time.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import running_sandbox
from bot.storage.models import Delivery
from tests.support.pledge_release import (
    pledged_campaign,
    posts_by_account,
    run_daemon_until_final,
    sandbox_runtime,
)


@pytest.mark.slow  # ~5 s: the ledger looks for every lost answer on the timeline
@pytest.mark.timeout(90)
def test_an_accelerated_sandbox_gets_each_post_once_at_its_real_time(
    engine: Engine, database_url: str
) -> None:
    with running_sandbox(SandboxOptions(time_acceleration=1000)) as sandbox:
        admin = sandbox.admin
        runtime = sandbox_runtime(engine, database_url, sandbox.url, admin)
        assert runtime.settings.clock_acceleration == 1000
        run = pledged_campaign(runtime, admin, x=12, facebook=4, release_in=3)
        release_at = run.status().release_at
        for platform in ("x", "facebook"):
            # Posts created whose answer is lost: found on the timeline, not sent again.
            admin.set_faults(platform, accept_then_drop_rate=0.3)
        final = run_daemon_until_final(run, timeout=60)
        for platform in ("x", "facebook"):
            admin.set_faults(platform, accept_then_drop_rate=0)
        posted = posts_by_account(sandbox)
        with runtime.sessions() as s:
            deliveries = s.scalars(select(Delivery)).all()
    assert final.by_state == {"sent": 16}
    assert Counter(len(posted.get(sup.user_id, [])) for sup in run.supporters) == {1: 16}
    # Nothing went out before its (real) time, and all of it soon after.
    sent = sorted(d.sent_at for d in deliveries if d.sent_at is not None)
    assert sent[0] >= release_at and (sent[-1] - release_at).total_seconds() < 30
    assert all(d.due_at <= datetime.now(UTC) for d in deliveries)
