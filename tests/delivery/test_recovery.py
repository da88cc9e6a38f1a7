"""Recovery and fairness: the unknown outcomes a crash leaves are settled on the asyncio
path, one read per account, found ones recorded without resending and missing ones sent
once; an ordinary post due during a pledge release is not queued behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.delivery.deliverer import RetryPolicy
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.platforms.base import Credentials
from bot.storage.models import Delivery, DeliveryState, Post, PostKind
from tests.support.factories import add_account, delivery_rows, queue, spec
from tests.support.fakes import FakeAsyncPlatform
from tests.support.waiting import wait_for

SHORT = RetryPolicy(reconcile_seconds=0.2, settle_seconds=0.2)


def crash_mid_send(sessions, ids: list[int], started: datetime) -> int:
    """Leave ``ids`` as a SIGKILLed daemon leaves them (``sending``, claimed by a worker
    that is gone), then run start-up recovery as the next daemon does."""
    with sessions() as s:
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                state=DeliveryState.SENDING,
                claimed_by="the-killed-daemon",
                sending_at=started,
                first_sending_at=started,
                attempts=1,
            )
        )
        s.commit()
    return Sweeps(sessions, "test").recover_interrupted(datetime.now(UTC))


def test_a_crash_left_batch_of_unknown_outcomes_is_settled_in_one_read_found_ones_not_resent(
    sessions, vault, daemons
):
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    texts = [f"Picket at gate {n} from 6am" for n in range(6)]
    queue(sessions, *[spec(t, key=f"p{n}", at=now) for n, t in enumerate(texts)], allow_past=True)
    ids = [d.id for d in delivery_rows(sessions)]
    x = FakeAsyncPlatform("x")
    creds = Credentials("tok", "s", "42")
    # The killed daemon's requests for the first three reached X; the rest did not.
    earlier = {texts[n]: x.publish(creds, texts[n]).platform_id for n in range(3)}
    x.calls.clear()

    assert crash_mid_send(sessions, ids, now) == 6
    daemons(x, SHORT)

    assert wait_for(lambda: all(d.state == DeliveryState.SENT for d in delivery_rows(sessions)))
    on_x = [p["text"] for p in x.posts]
    assert sorted(on_x) == sorted(texts), "every post exactly once on the platform"
    by_text = {d.post_id: d for d in delivery_rows(sessions)}
    with sessions() as s:
        keys = dict(s.execute(select(Post.id, Post.parts)).all())
    for post_id, delivery in by_text.items():
        text = keys[post_id]["x"][0]
        if text in earlier:  # found: recorded with the post already there
            assert delivery.platform_ids == [earlier[text]]
    # One read for the account's six (then, if it came before the settle time, one more
    # for the three not seen); never the one-by-one threaded look.
    assert x.calls[0] == "find_many:6"
    assert set(c for c in x.calls if c.startswith("find")) <= {"find_many:6", "find_many:3"}
    assert sorted(c for c in x.calls if c.startswith("publish:")) == sorted(
        f"publish:{t}" for t in texts[3:]
    )


def test_a_look_that_fails_leaves_the_batch_unknown_and_nothing_is_sent(sessions, vault, daemons):
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    queue(sessions, *[spec(f"Rally {n}", key=f"r{n}", at=now) for n in range(3)], allow_past=True)
    ids = [d.id for d in delivery_rows(sessions)]
    x = FakeAsyncPlatform("x")

    def timeline_down(creds, wanted):
        from bot.platforms.base import TransientError

        x.calls.append("find_many:failed")
        raise TransientError("X timeline lookup: 503")

    x.find_many = timeline_down  # type: ignore[method-assign]
    crash_mid_send(sessions, ids, now)
    daemons(x, RetryPolicy(reconcile_seconds=0.2, settle_seconds=0.2, base_seconds=30))

    assert wait_for(lambda: "find_many:failed" in x.calls)
    assert wait_for(
        lambda: all(
            d.state == DeliveryState.UNKNOWN and "could not check yet" in (d.error or "")
            for d in delivery_rows(sessions)
        )
    )
    assert x.posts == [], "nothing is sent while its absence is not proven"


def test_an_ordinary_post_due_during_a_release_is_not_held_behind_it(sessions, vault, daemons):
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    release_at = now + timedelta(seconds=1)
    reminder_at = release_at + timedelta(seconds=0.5)
    queue(
        sessions,
        *[
            spec(
                f"Reinstate the reps, supporter {n}",
                key=f"pledge-{n}",
                at=release_at,
                kind="pledge",
            )
            for n in range(120)
        ],
        spec("Demo starts in 30 minutes at the town hall", key="reminder", at=reminder_at),
    )
    with sessions() as s:  # as bot.pledges.release writes them
        assert s.scalar(select(Post.kind).where(Post.key == "pledge-0")) == PostKind.PLEDGE
    # 10 in flight, 0.1 s each: the release takes ~1.2 s, so it is still going out when
    # the reminder falls due.
    x = FakeAsyncPlatform("x", hold=0.1)
    daemons(x, SHORT, max_in_flight=10)

    assert wait_for(
        lambda: all(d.state == DeliveryState.SENT for d in delivery_rows(sessions)), timeout=30
    )
    with sessions() as s:
        rows = s.execute(
            select(Post.key, Post.scheduled_at, Delivery.sending_at, Delivery.sent_at).join(
                Delivery, Delivery.post_id == Post.id
            )
        ).all()
    reminder = next(r for r in rows if r.key == "reminder")
    last_release = max(r.sent_at for r in rows if r.key != "reminder")
    assert last_release > reminder.scheduled_at, "the release was still going out"
    late = (reminder.sending_at - reminder.scheduled_at).total_seconds()
    assert late < 0.5, f"the reminder started {late:.2f} s late, behind the release"


def test_a_claim_takes_ordinary_posts_before_older_release_posts(sessions, vault):
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    queue(
        sessions,
        *[spec(f"Pledge {n}", key=f"pledge-{n}", at=now, kind="pledge") for n in range(5)],
        spec("Reminder", key="reminder", at=now + timedelta(seconds=1)),
        allow_past=True,
    )
    jobs = Ledger(sessions, "w").claim_due(now + timedelta(seconds=2), limit=2)
    assert [job.label for job in jobs] == ["demo/reminder", "demo/pledge-0"]
