"""Ways a post could go out twice, wrongly, late or never: each test shows one of them
closed, by doing what used to let it happen."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.campaigns.enqueue import cancel_post, find_post
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.delivery.sweeps import Sweeps
from bot.platforms.base import PermanentError, TransientError
from bot.storage.models import Delivery, DeliveryState
from tests.support.factories import add_account, delivery_states, due_now, queue, spec
from tests.support.fakes import FakePlatform
from tests.support.waiting import wait_for


class Clock:
    def __init__(self):
        self.now = datetime.now(UTC)

    def __call__(self):
        return self.now

    def advance(self, s):
        self.now += timedelta(seconds=s)


def mk(sessions, vault, platforms, clock, ledger=None, max_attempts=3):
    return Deliverer(
        ledger or Ledger(sessions, "w1"),
        platforms,
        vault,
        RetryPolicy(max_attempts=max_attempts, base_seconds=2, max_seconds=60),
        clock=clock,
        rng=random.Random(7),
    )


def ids(sessions):
    with sessions() as s:
        return [d.id for d in s.scalars(select(Delivery).order_by(Delivery.id))]


def row(sessions, i):
    with sessions() as s:
        return s.get(Delivery, i)


# 1. A DB error right after a successful publish -> generic handler -> pending -> resent.
def test_a_database_error_after_a_post_went_out_does_not_resend_it(sessions, vault):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")

    class FlakyLedger(Ledger):
        failed_once = False

        def sent(self, *a, **k):
            if not self.failed_once:
                self.failed_once = True
                raise RuntimeError("database is locked")  # e.g. sqlite3.OperationalError
            return super().sent(*a, **k)

    d = mk(sessions, vault, {"x": x}, clock, ledger=FlakyLedger(sessions, "w1"))
    queue(sessions, spec("Strike vote", at=clock.now), now=clock.now)
    [i] = ids(sessions)
    first = d.run(i)
    clock.advance(120)
    second = d.run(i)
    print("outcomes", first, second, "posts", len(x.posts))
    assert len(x.posts) == 1, f"posted {len(x.posts)} times ({first}, {second})"


# 2. Reconciliation that keeps failing (e.g. X free tier: 403 on the timeline read) never ends.
def test_a_check_that_cannot_be_done_ends_in_failed_not_a_loop(sessions, vault):
    clock = Clock()

    class NoReads(FakePlatform):
        def find_recent(self, creds, text, since, link=None):
            raise PermanentError("X refused the read (HTTP 403: client-not-enrolled)")

    x = NoReads("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    d = mk(sessions, vault, {"x": x}, clock, max_attempts=3)
    queue(sessions, spec("Picket 6am", at=clock.now), now=clock.now)
    [i] = ids(sessions)
    x.fail_next("accept_then_lose")
    outcomes = [d.run(i)]
    for _ in range(30):
        clock.advance(3600)
        outcomes.append(d.run(i))
    r = row(sessions, i)
    print(outcomes[-3:], r.state, r.attempts)
    assert r.state not in (DeliveryState.UNKNOWN, DeliveryState.PENDING), (
        f"still {r.state} after {r.attempts} attempts"
    )


# 3. Facebook hold post queued while the daemon is down > grace: marked missed though its
#    publish time is still days ahead.
def test_a_post_facebook_holds_counts_from_its_publish_time_not_the_hand_over(sessions, vault):
    clock = Clock()
    add_account(sessions, vault, "facebook", "page", user_id="99")
    queue(
        sessions,
        spec(
            "Result at 9am",
            at=clock.now + timedelta(days=3),
            to=("facebook",),
            hold_on_facebook=True,
        ),
        now=clock.now,
    )
    clock.advance(20 * 60)  # the daemon starts 20 minutes after the file was applied
    missed = Sweeps(sessions, "w").mark_missed(clock.now, timedelta(minutes=15))
    [i] = ids(sessions)
    print(missed, row(sessions, i).state, row(sessions, i).error)
    assert missed == [] and row(sessions, i).state == DeliveryState.PENDING


# 4. Cancelled while sending, attempt fails transiently -> pending on a cancelled post ->
#    later reported MISSED "while the daemon was not running" (and the CLI said "already out").
def test_a_post_cancelled_during_a_failed_attempt_ends_cancelled(sessions, vault):
    clock = Clock()
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, spec("Rally", at=clock.now, key="rally"), now=clock.now)
    [i] = ids(sessions)

    class CancelMidSend(FakePlatform):
        def publish(self, creds, text, **kw):
            with sessions() as s:
                res = cancel_post(s, find_post(s, "demo/rally"))
            self.cancel_result = res
            raise TransientError("503")

    x = CancelMidSend("x")
    d = mk(sessions, vault, {"x": x}, clock)
    print(d.run(i), x.cancel_result)
    clock.advance(16 * 60)
    missed = Sweeps(sessions, "w").mark_missed(clock.now, timedelta(minutes=15))
    r = row(sessions, i)
    print(r.state, r.error, missed)
    assert r.state == DeliveryState.CANCELLED, f"{r.state}: {r.error}"


# 5. An unknown left by a crash 3 days ago is sent 3 days late (grace ignored).
def test_an_interrupted_send_days_ago_is_not_sent_days_late(sessions, vault):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, spec("Demo in 1 hour!", at=clock.now), now=clock.now)
    [i] = ids(sessions)
    with sessions() as s:
        s.execute(
            update(Delivery).values(
                state=DeliveryState.SENDING, claimed_by="dead", first_sending_at=clock.now
            )
        )
        s.commit()
    clock.advance(3 * 86400)
    led = Sweeps(sessions, "new")
    led.recover_interrupted(clock.now)
    led.mark_missed(clock.now, timedelta(minutes=15))
    out = mk(sessions, vault, {"x": x}, clock).run(i)
    print(out, len(x.posts))
    assert out != "sent", "a post due 3 days ago was sent now"


# 6. Thread: part 1 found by reconciliation, but the post was cancelled: rest still sent.
def test_a_cancelled_thread_found_half_out_sends_no_more_parts(sessions, vault):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    queue(sessions, spec(thread=("1/ a", "2/ b", "3/ c"), at=clock.now, key="t"), now=clock.now)
    [i] = ids(sessions)
    d = mk(sessions, vault, {"x": x}, clock)
    x.fail_next("accept_then_lose")
    assert d.run(i) == "unknown"
    with sessions() as s:
        cancel_post(s, find_post(s, "demo/t"))
    clock.advance(5)
    out = d.run(i)
    print(out, [p["text"] for p in x.posts])
    assert len(x.posts) == 1


# 7. Reconciliation finds nothing (timeline not caught up yet), so it resends; X answers
#    403 duplicate -> PermanentError -> FAILED, while the post is on X.
def test_a_duplicate_answer_after_an_unknown_outcome_means_ours_is_there(sessions, vault):
    clock = Clock()

    class LaggyX(FakePlatform):
        def find_recent(self, creds, text, since, link=None):
            self.calls.append(f"find:{text}")
            return None  # the timeline has not caught up with the post yet

        def publish(self, creds, text, **kw):
            if any(p["text"] == text for p in self.posts):
                raise PermanentError(
                    "duplicate content (HTTP 403: You are not allowed to create a Tweet "
                    "with duplicate content.)",
                    code=403,
                )
            return super().publish(creds, text, **kw)

    x = LaggyX("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    d = mk(sessions, vault, {"x": x}, clock)
    queue(sessions, spec("Strike starts Monday", at=clock.now), now=clock.now)
    [i] = ids(sessions)
    x.fail_next("accept_then_lose")
    outs = [d.run(i)]
    clock.advance(3)
    outs.append(d.run(i))
    r = row(sessions, i)
    print(outs, r.state, r.error, len(x.posts))
    assert not (r.state == DeliveryState.FAILED and len(x.posts) == 1), (
        f"ledger says {r.state} ({r.error}) but the post is on X"
    )


# 8. MISSED_GRACE_MINUTES=0 is accepted; while the daemon RUNS, the sync job marks a due
#    post missed before its own job gets a worker.
def test_a_running_daemon_does_not_mark_its_own_backlog_missed(
    sessions, vault, engine, database_url
):
    import time

    from bot.delivery.daemon import Daemon
    from bot.storage.lock import DaemonLock

    add_account(sessions, vault, "x", "union", user_id="42")

    class Slow(FakePlatform):
        def publish(self, *a, **k):
            time.sleep(1.5)
            return super().publish(*a, **k)

    x = Slow("x")
    ledger = Ledger(sessions, "d")
    d = Daemon(
        Deliverer(ledger, {"x": x}, vault, RetryPolicy()),
        ledger,
        DaemonLock(engine, database_url),
        poll_interval=0.2,
        grace=timedelta(0),
        concurrency=1,
    )
    at = datetime.now(UTC) + timedelta(seconds=1)
    queue(sessions, spec("one", at=at), spec("two", at=at))
    d.start()
    try:
        time.sleep(5)
    finally:
        d.stop()
    with sessions() as s:
        st = [r.state for r in s.scalars(select(Delivery))]
    print(st)
    assert st == ["sent", "sent"], st


# 9. A thread whose first part is out but whose second part is waiting for a retry is
#    "pending": re-applying an edited file rewrites it, and the new part 2 replies to the
#    OLD part 1. (cancel also calls it "pending" and reports nothing as already out.)
def test_a_thread_with_a_part_out_is_not_edited_in_place(sessions, vault):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    at = clock.now + timedelta(minutes=1)
    queue(
        sessions,
        spec(thread=("1/ Ballot: 60% yes", "2/ turnout 40%"), at=at, key="res"),
        now=clock.now,
    )
    [i] = ids(sessions)
    clock.advance(60)
    x.fail_next(None, TransientError("503"))  # part 1 goes, part 2 gets a 503
    assert mk(sessions, vault, {"x": x}, clock).run(i) == "retry"
    # the volunteer fixes the figures in the file and re-applies
    report = queue(
        sessions,
        spec(
            thread=("1/ Ballot: 87% yes", "2/ turnout 71%"),
            at=clock.now + timedelta(minutes=5),
            key="res",
        ),
        now=clock.now,
    )
    print(report)
    clock.advance(400)
    mk(sessions, vault, {"x": x}, clock).run(i)
    print([(p["text"], p["reply_to"]) for p in x.posts])
    assert report.updated == [], "a thread with a part already on X was edited in place"


# 10. stop() promises "deliveries not started stay pending", but queued jobs still run.
def test_stopping_starts_no_more_deliveries(sessions, vault, engine, database_url):
    import threading
    import time

    from bot.delivery.daemon import Daemon
    from bot.storage.lock import DaemonLock

    add_account(sessions, vault, "x", "union", user_id="42")
    entered = threading.Event()

    class Slow(FakePlatform):
        def publish(self, *a, **k):
            entered.set()
            time.sleep(1.0)
            return super().publish(*a, **k)

    x = Slow("x")
    ledger = Ledger(sessions, "d")
    d = Daemon(
        Deliverer(ledger, {"x": x}, vault, RetryPolicy()),
        ledger,
        DaemonLock(engine, database_url),
        poll_interval=0.2,
        concurrency=1,
    )
    now = datetime.now(UTC)
    queue(sessions, *[spec(f"post {n}", at=now) for n in range(5)], allow_past=True)
    d.start()
    assert entered.wait(5)
    t = time.monotonic()
    d.stop()
    took = time.monotonic() - t
    print("stop took", round(took, 1), "s; sent", len(x.posts))
    assert len(x.posts) == 1, f"stop() sent {len(x.posts)} posts and took {took:.1f}s"
    # the claims the dispatcher had taken for the others are given back, not counted
    with sessions() as s:
        rows = sorted((r.state, r.attempts) for r in s.scalars(select(Delivery)))
    assert rows == [("pending", 0)] * 4 + [("sent", 1)]


# 11. `to: [x:@handle]` can name a supporter's pledged account.
def test_a_schedule_cannot_post_from_a_supporters_account(sessions, vault):
    add_account(sessions, vault, "x", "union", user_id="42")
    add_account(sessions, vault, "x", "alice", user_id="77", owner_kind="supporter")
    from bot.campaigns.specs import SpecError

    try:
        report = queue(sessions, spec("Campaign text", to=("x:@alice",)))
    except SpecError:
        return
    raise AssertionError(f"queued on a supporter's personal account: {report.created}")


# 12. An UNKNOWN delivery that meets the account's rate-limit gate is put back to PENDING,
#     so after the reset it is published again without the reconciliation check.
def test_an_unknown_delivery_keeps_its_check_through_a_rate_limit_wait(sessions, vault):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    d = mk(sessions, vault, {"x": x}, clock)
    queue(
        sessions,
        spec("Post A", at=clock.now, key="a"),
        spec("Post B", at=clock.now, key="b"),
        now=clock.now,
    )
    a, b = ids(sessions)
    x.fail_next("accept_then_lose", TransientError("429", retry_after=600, rate_limited=True))
    assert d.run(a) == "unknown"  # A is on X, answer lost
    assert d.run(b) == "deferred"  # B meets a 429: the account is gated for 10 min
    clock.advance(3)
    print("A while gated:", d.run(a), row(sessions, a).state)
    clock.advance(600)
    print("A after reset:", d.run(a))
    texts = [p["text"] for p in x.posts]
    assert texts.count("Post A") == 1, texts


# 13. A post's absence is trusted only ``settle_seconds`` after the first attempt
#     (timelines lag), measured from ``first_sending_at``, the claim. A job can wait in
#     the send pool after its claim; if that wait were taken off the settle time, a post
#     whose answer was lost would be looked for too soon, not seen yet, and sent twice.
class LaggingTimeline(FakePlatform):
    """Its first publish takes ``hold`` seconds (the pool's only thread is busy); a post
    shows in find_recent only ``lag`` seconds after it was created, as on X."""

    def __init__(self, hold: float, lag: float) -> None:
        super().__init__("x")
        self.hold, self.lag = hold, lag
        self.held = False

    def publish(self, *args, **kwargs):
        if not self.held:
            self.held = True
            time.sleep(self.hold)
        return super().publish(*args, **kwargs)

    def find_recent(self, creds, text, since, *, link=None):
        found = super().find_recent(creds, text, since, link=link)
        if found is None:
            return None
        [post] = [p for p in self.posts if p["id"] == found.platform_id]
        young = datetime.now(UTC) - post["created_at"] < timedelta(seconds=self.lag)
        return None if young else found


def test_a_lost_answer_after_a_wait_in_the_send_pool_is_not_sent_twice(sessions, vault, daemons):
    due_now(sessions, vault, "first", "second")
    x = LaggingTimeline(hold=2.0, lag=0.8)
    x.fail_next("as usual", "accept_then_lose")  # the second post is created, its answer lost
    daemon = daemons(x, RetryPolicy(settle_seconds=1.0, reconcile_seconds=0.1), concurrency=1)
    assert wait_for(lambda: delivery_states(sessions) == ["sent", "sent"], timeout=8)
    daemon.stop()
    assert sorted(p["text"] for p in x.posts) == ["first", "second"], "posted twice"


# 14. The same settle rule for a retry: a retry's answer is lost, so the post must be
#     looked for ``settle_seconds`` after the attempt that may have created it, not after
#     the first attempt, which failed long before and would make the look too early.
def test_a_retry_whose_answer_is_lost_is_not_sent_twice(sessions, vault, daemons):
    due_now(sessions, vault, "Rally at noon")
    x = LaggingTimeline(hold=0.0, lag=0.8)
    x.fail_next(TransientError("could not connect", retry_after=2.0), "accept_then_lose")
    daemons(x, RetryPolicy(settle_seconds=1.0, reconcile_seconds=0.1))
    assert wait_for(lambda: delivery_states(sessions) == ["sent"], timeout=8)
    assert [p["text"] for p in x.posts] == ["Rally at noon"], "posted twice"


# A scaled-out worker cut off from the database must not start a request once it cannot
# vouch for its lease: the scheduler may be handing its claims to another worker.
def test_a_worker_that_cannot_vouch_for_its_lease_starts_no_request_not_even_a_threads_next_part(
    sessions, vault
):
    clock = Clock()
    x = FakePlatform("x")
    add_account(sessions, vault, "x", "union", user_id="42")
    d = mk(sessions, vault, {"x": x}, clock)
    queue(
        sessions,
        spec(at=clock.now, key="one"),
        spec(at=clock.now, key="thread", thread=("Strike vote 1/2", "Strike vote 2/2")),
        now=clock.now,
    )
    single, thread = ids(sessions)
    refusals = iter([None, "this worker has not seen its lease on the database for 12 s"])
    d.may_send = lambda: next(refusals, "this worker has not seen its lease for 12 s")

    d.run(thread)  # the first part goes out, then the worker loses its footing
    d.run(single)

    assert [p["text"] for p in x.posts] == ["Strike vote 1/2"]
    for i, parts_done in ((thread, 1), (single, 0)):
        r = row(sessions, i)
        assert r.state == DeliveryState.PENDING, r.error
        assert r.parts_done == parts_done
        assert r.attempts == 0  # not the platform's failure: not counted as a try
        assert "lease" in (r.error or "")

    d.may_send = None  # another worker, or this one back on its feet, carries on
    clock.advance(60)
    d.run(thread)
    d.run(single)
    texts = sorted(str(p["text"]) for p in x.posts)
    assert texts == ["Demo tomorrow at 8:30", "Strike vote 1/2", "Strike vote 2/2"]
    reply = next(p for p in x.posts if p["text"] == "Strike vote 2/2")
    first = next(p for p in x.posts if p["text"] == "Strike vote 1/2")
    assert reply["reply_to"] == first["id"]
