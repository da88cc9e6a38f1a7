"""`deliveries list`: when each delivery was due, and apart from it when it is tried next."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.base import TransientError
from tests.support.fakes import FakePlatform


def test_a_retry_moves_the_next_try_and_keeps_the_time_it_was_due(with_accounts):
    cli = with_accounts
    assert cli("posts", "add", "--in", "5m", "--to", "x", "Strike ballot opens").exit_code == 0
    [before] = cli.json("deliveries", "list")
    due = datetime.fromisoformat(before["due_at"])
    x = FakePlatform("x")
    x.fail_next(TransientError("X publish: could not connect (ConnectionError)", not_sent=True))
    runtime = cli.runtime()
    deliverer = Deliverer(
        Ledger(runtime.sessions, "w1"),
        {"x": x},
        runtime.vault,
        RetryPolicy(),
        clock=lambda: due + timedelta(seconds=1),
    )
    assert deliverer.run(before["id"]) == "retry"

    [after] = cli.json("deliveries", "list")
    assert after["state"] == "pending" and after["due_at"] == before["due_at"]
    assert datetime.fromisoformat(after["next_attempt_at"]) > due
    table = cli("deliveries", "list").output
    assert "next try" in table.splitlines()[0]
    assert "could not connect" in table
