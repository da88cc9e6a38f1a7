"""Posting to Mastodon through the ledger, against sandbox instances with the real
Mastodon.py and our status request: threads, per-instance limits at queue time, and
exactly once through lost answers thanks to the delivery's Idempotency-Key."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.campaigns.specs import PostSpec, SpecError
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.base import Credentials
from bot.platforms.http import ANY_HOST
from bot.platforms.mastodon import MastodonPlatform
from bot.storage.models import Account, Delivery, DeliveryState
from tests.support.factories import queue


@pytest.fixture(scope="module")
def sandbox():
    from bot.sandbox.testing import running_sandbox

    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


_made = iter(range(1, 10_000))


def campaign_account(sessions, vault, sb, host="union.social", max_length=None):
    made = sb.admin.create_mastodon_account(host, f"branch{next(_made)}")
    with sessions() as session:
        account = Account(
            platform="mastodon",
            handle=f"{made['username']}@{host}",
            name=made["username"],
            owner_kind="campaign",
            is_default=True,
            platform_user_id=f"{made['id']}@{host}",
            credentials=vault.seal(
                Credentials(made["access_token"], "", f"{made['id']}@{host}", server=made["server"])
            ),
            max_length=max_length,
        )
        session.add(account)
        session.commit()
    return made


def thread_spec(parts, *, link=None, key="t1"):
    return PostSpec(
        campaign="demo",
        key=key,
        scheduled_at=datetime.now(UTC) - timedelta(seconds=1),
        timezone="UTC",
        targets=("mastodon",),
        parts={"mastodon": tuple(parts)},
        link=link,
        kind="thread" if len(parts) > 1 else "post",
    )


class Clock:
    """The deliverer's clock, moved on by hand past each wait it sets."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def later(self, seconds: float = 5) -> None:
        self.now += timedelta(seconds=seconds)


def deliverer(sessions, vault, sb, clock=None):
    platform = MastodonPlatform(routes={ANY_HOST: sb.url}, timeout=5)
    return Deliverer(
        Ledger(sessions, "w1"),
        {"mastodon": platform},
        vault,
        RetryPolicy(max_attempts=5, base_seconds=1, max_seconds=1, settle_seconds=0),
        clock=clock or Clock(),
        rng=random.Random(1),
    )


def the_delivery(sessions):
    with sessions() as s:
        return s.scalars(select(Delivery)).one()


def test_a_thread_goes_out_as_replies_with_the_link_in_the_first_part(sessions, vault, sb):
    made = campaign_account(sessions, vault, sb)
    queue(
        sessions,
        thread_spec(["1/ Strike on Monday", "2/ Bring a friend"], link="https://union.test/s"),
        allow_past=True,
    )
    d = the_delivery(sessions)
    assert deliverer(sessions, vault, sb).run(d.id) == "sent"
    statuses = sb.admin.mastodon_statuses("union.social", made["id"])
    assert [s["text"] for s in statuses] == [
        "2/ Bring a friend",
        "1/ Strike on Monday\nhttps://union.test/s",
    ]
    assert statuses[0]["in_reply_to_id"] == statuses[1]["id"]
    done = the_delivery(sessions)
    assert done.state == DeliveryState.SENT
    assert done.platform_ids == [statuses[1]["id"], statuses[0]["id"]]


def test_a_lost_answer_is_settled_by_the_idempotency_key_and_posts_once(sessions, vault, sb):
    made = campaign_account(sessions, vault, sb)
    queue(sessions, thread_spec(["Exactly once, please"]), allow_past=True)
    d = the_delivery(sessions)
    sb.admin.script("mastodon", "POST", r"^/api/v1/statuses$", [{"action": "accept_then_drop"}])
    clock = Clock()
    run = deliverer(sessions, vault, sb, clock)
    assert run.run(d.id) == "unknown"
    clock.later()
    assert run.run(d.id) == "sent"
    statuses = sb.admin.mastodon_statuses("union.social", made["id"])
    assert [s["text"] for s in statuses] == ["Exactly once, please"]
    assert the_delivery(sessions).platform_ids == [statuses[0]["id"]]


def test_a_server_error_after_posting_and_a_retry_with_the_same_key_posts_once(sessions, vault, sb):
    made = campaign_account(sessions, vault, sb)
    queue(sessions, thread_spec(["Through a 503"]), allow_past=True)
    d = the_delivery(sessions)
    sb.admin.script("mastodon", "POST", r"^/api/v1/statuses$", [{"action": "accept_then_error"}])
    # The look after the unknown outcome misses it (a timeline not caught up yet), so the
    # status is sent again: the same Idempotency-Key alone must keep it to one.
    sb.admin.script("mastodon", "GET", r"/statuses$", [{"status": 200, "body": []}])
    clock = Clock()
    run = deliverer(sessions, vault, sb, clock)
    for _ in range(5):
        if the_delivery(sessions).state == DeliveryState.SENT:
            break
        run.run(d.id)
        clock.later()
    assert the_delivery(sessions).state == DeliveryState.SENT
    assert the_delivery(sessions).attempts == 2  # sent twice, posted once
    assert len(sb.admin.mastodon_statuses("union.social", made["id"])) == 1


def test_a_text_over_the_accounts_instance_limit_is_refused_at_queue_time(sessions, vault, sb):
    campaign_account(sessions, vault, sb, host="short.social", max_length=100)
    with pytest.raises(SpecError, match="limit is 100"):
        queue(sessions, thread_spec(["z" * 101]), allow_past=True)
    queue(sessions, thread_spec(["z" * 100]), allow_past=True)


def test_a_long_text_fits_an_instance_that_allows_it(sessions, vault, sb):
    campaign_account(sessions, vault, sb, host="long.social", max_length=5000)
    queue(sessions, thread_spec(["z" * 4000]), allow_past=True)
    assert the_delivery(sessions).platform == "mastodon"
