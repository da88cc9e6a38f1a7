"""Exactly once on Bluesky through the ledger: the delivery's record key is chosen when it
is queued, every attempt names it, and a lost answer is settled by reading that record."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.platforms.bluesky import BlueskyPlatform
from bot.platforms.bluesky.credentials import pack
from bot.platforms.record_keys import is_tid, part_record_key
from bot.storage.models import Account, Delivery, DeliveryState
from tests.platforms.bluesky.accounts import CREATE, routes_to, texts_on
from tests.support.factories import queue, spec


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def member(sb, sessions, vault):
    made = sb.admin.create_bluesky_account(f"ledger{random.randrange(10**9)}")
    session = sb.admin.bluesky_session(made["did"])
    with sessions() as db:
        db.add(
            Account(
                platform="bluesky",
                handle=made["handle"],
                name=made["handle"],
                owner_kind="campaign",
                is_default=True,
                platform_user_id=made["did"],
                credentials=vault.seal(pack(session)),
            )
        )
        db.commit()
    return made


@pytest.fixture
def deliverer(sb, sessions, vault, clock):
    return Deliverer(
        Ledger(sessions, "w1"),
        {"bluesky": BlueskyPlatform(routes=routes_to(sb.url), timeout=5.0)},
        vault,
        RetryPolicy(max_attempts=5, base_seconds=1, max_seconds=10),
        clock=clock,
        rng=random.Random(3),
    )


def queued(sessions, clock, *parts, link=None) -> Delivery:
    post = spec(parts[0], at=clock.now, to=("bluesky",), link=link)
    post = type(post)(**{**vars(post), "parts": {"bluesky": tuple(parts)}})
    queue(sessions, post, now=clock.now, allow_past=True)
    with sessions() as db:
        return db.scalars(select(Delivery).order_by(Delivery.id.desc())).first()


def row(sessions, delivery_id) -> Delivery:
    with sessions() as db:
        return db.get(Delivery, delivery_id)


def test_a_queued_delivery_already_has_its_record_key_and_the_post_uses_it(
    sb, sessions, clock, deliverer, member
):
    delivery = queued(sessions, clock, "Ballot opens today #PayBallot", link="https://u.test/b")
    assert is_tid(delivery.record_key)
    assert deliverer.run(delivery.id) == "sent"
    saved = row(sessions, delivery.id)
    assert saved.platform_ids == [f"at://{member['did']}/app.bsky.feed.post/{delivery.record_key}"]
    assert saved.url.endswith(f"/post/{delivery.record_key}")


def test_a_lost_answer_is_settled_by_reading_the_record_and_never_posted_twice(
    sb, sessions, clock, deliverer, member
):
    delivery = queued(sessions, clock, "Lost in the post")
    sb.admin.script("bluesky", "POST", CREATE, [{"action": "accept_then_drop"}])
    assert deliverer.run(delivery.id) == "unknown"
    clock.advance(30)
    assert deliverer.run(delivery.id) == "sent"
    assert texts_on(sb, member["did"]) == ["Lost in the post"]
    assert row(sessions, delivery.id).platform_ids[0].endswith(delivery.record_key)


def test_a_server_error_after_the_post_was_made_is_settled_the_same_way(
    sb, sessions, clock, deliverer, member
):
    delivery = queued(sessions, clock, "Made, then 500")
    sb.admin.script("bluesky", "POST", CREATE, [{"action": "accept_then_error"}])
    assert deliverer.run(delivery.id) == "unknown"
    clock.advance(30)
    assert deliverer.run(delivery.id) == "sent"
    assert texts_on(sb, member["did"]) == ["Made, then 500"]


def test_an_absent_record_is_sent_again_under_the_same_key(sb, sessions, clock, deliverer, member):
    delivery = queued(sessions, clock, "Never arrived")
    sb.admin.script("bluesky", "POST", CREATE, [{"action": "drop"}])  # dropped, not made
    assert deliverer.run(delivery.id) == "unknown"
    clock.advance(30)
    assert deliverer.run(delivery.id) == "sent"
    [post] = sb.admin.bluesky_posts(member["did"])
    assert post["uri"].endswith(delivery.record_key)


def test_a_thread_interrupted_mid_way_ends_with_each_part_once_in_order(
    sb, sessions, clock, deliverer, member
):
    delivery = queued(sessions, clock, "1/ Why", "2/ How", "3/ When")
    # Part 1 goes; part 2 is made but its answer lost.
    sb.admin.script("bluesky", "POST", CREATE, [{"action": "pass"}, {"action": "accept_then_drop"}])
    assert deliverer.run(delivery.id) == "unknown"
    assert row(sessions, delivery.id).parts_done == 1
    assert len(sb.admin.bluesky_posts(member["did"])) == 2
    clock.advance(30)
    assert deliverer.run(delivery.id) == "sent"
    posts = {p["record"]["text"]: p for p in sb.admin.bluesky_posts(member["did"])}
    assert sorted(posts) == ["1/ Why", "2/ How", "3/ When"]
    keys = [part_record_key(delivery.record_key, i) for i in range(3)]
    assert [posts[t]["uri"].rsplit("/", 1)[1] for t in ("1/ Why", "2/ How", "3/ When")] == keys
    third = posts["3/ When"]["record"]["reply"]
    assert third["root"]["uri"] == posts["1/ Why"]["uri"]
    assert third["parent"]["uri"] == posts["2/ How"]["uri"]
    saved = row(sessions, delivery.id)
    assert saved.state == DeliveryState.SENT and len(saved.platform_ids) == 3


def test_the_burst_path_sends_the_deliverys_record_key_too(sb, sessions, clock, deliverer, member):
    import asyncio

    from bot.platforms.http import async_session

    delivery = queued(sessions, clock, "Released together")
    job = deliverer.ledger.claim(delivery.id, clock.now)
    assert job is not None and deliverer.simple(job, clock.now)

    async def burst():
        async with async_session(timeout=5.0, limit=4) as session:
            publisher = deliverer.platforms["bluesky"].async_publisher(session)
            return await deliverer.send_simple(job, publisher)

    assert asyncio.run(burst()) == "sent"
    [post] = sb.admin.bluesky_posts(member["did"])
    assert post["uri"].endswith(delivery.record_key)
