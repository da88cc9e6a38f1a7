"""Review of the reworked delivery engine (dispatcher, batch claims, group commit).

Each test is a way a post could go out twice, wrongly, late or never (or a secret could
leave) under the new engine. Each failed when written; the engine fixes are cb2ece7 and
d5a127c, and the numbered comments describe each defect as it was found. The rest prove
rules the rework had to keep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError

from bot.campaigns.enqueue import cancel_post, find_post
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.group_commit import GroupCommit, _Write
from bot.delivery.ledger import Ledger
from bot.delivery.statements import SENT
from bot.platforms.base import Credentials, Published, TransientError
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import async_session
from bot.platforms.x import XPlatform
from bot.storage.models import Delivery, DeliveryState
from tests.factories import add_account, queue, spec
from tests.fakes import FakeAsyncPlatform, FakePlatform
from tests.test_daemon import wait_for


def rows(sessions):
    with sessions() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def states(sessions):
    return [d.state for d in rows(sessions)]


def due_now(sessions, vault, *texts):
    """The union's X account and one post per text, all due now; their delivery ids."""
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    queue(sessions, *[spec(t, key=t.replace(" ", "-"), at=now) for t in texts], allow_past=True)
    return [d.id for d in rows(sessions)]


class HeldFirst(FakePlatform):
    """The first publish waits until the test lets it go: the send pool stays busy."""

    def __init__(self) -> None:
        super().__init__("x")
        self.entered = threading.Event()
        self.go = threading.Event()

    def publish(self, *args, **kwargs):
        if not self.entered.is_set():
            self.entered.set()
            self.go.wait(5)
        return super().publish(*args, **kwargs)


@pytest.fixture
def dispatchers():
    made: list[Dispatcher] = []

    def make(sessions, vault, platforms, ledger=None, **kwargs):
        ledger = ledger or Ledger(sessions, "review")
        deliverer = Deliverer(ledger, platforms, vault, RetryPolicy())
        dispatcher = Dispatcher(deliverer, ledger, platforms, **kwargs)
        dispatcher.start()
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.stop()


# 1. A claim now waits in the send pool before its send starts; a cancel in that wait is
#    answered "already going" and the post still goes out. (Before the rework the claim
#    was made by the thread that sent, a moment before the call.)
def test_a_post_cancelled_while_its_claim_waits_for_a_thread_is_not_sent(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, "first", "second")
    x = HeldFirst()
    dispatcher = dispatchers(sessions, vault, {"x": x}, threads=1)
    dispatcher.wake()
    assert x.entered.wait(5)
    assert wait_for(lambda: states(sessions) == ["sending", "sending"])  # both claimed
    with sessions() as s:
        post = find_post(s, "demo/second")
        assert post is not None
        cancel_post(s, post)
    x.go.set()
    assert wait_for(lambda: not dispatcher.in_flight())
    assert [p["text"] for p in x.posts] == ["first"], "a cancelled post went out"


# 2. The stale-claim sweep must not touch a claim that waits in the send pool.
def test_the_stale_claim_sweep_leaves_claims_waiting_for_a_thread_alone(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, "first", "second")
    x = HeldFirst()
    ledger = Ledger(sessions, "review")
    dispatcher = dispatchers(sessions, vault, {"x": x}, ledger=ledger, threads=1)
    dispatcher.wake()
    assert x.entered.wait(5)
    assert wait_for(lambda: len(dispatcher.in_flight()) == 2)
    # Even a sweep that thinks every claim is old spares what the dispatcher holds.
    assert ledger.release_stale(datetime.now(UTC) + timedelta(hours=1), dispatcher.in_flight()) == 0
    x.go.set()
    assert wait_for(lambda: states(sessions) == ["sent", "sent"])
    assert len(x.posts) == 2


# 3. stop() promises that claims which had not started are given back. The thread path
#    does (Dispatcher._threaded_run, tests/test_dispatch.py); the asyncio path sent a batch
#    whose claim was committed when the stop came (fixed by the lead in _claim_all).
class PausingLedger(Ledger):
    """claim_due commits its claims, then waits for the test before returning them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.claimed = threading.Event()
        self.go = threading.Event()

    def claim_due(self, now, pending, unknown=0):
        jobs = super().claim_due(now, pending, unknown)
        if jobs:
            self.claimed.set()
            self.go.wait(5)
        return jobs


def test_stopping_gives_back_claims_not_started_on_the_asyncio_path_too(
    sessions, vault, dispatchers
):
    due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    x = FakeAsyncPlatform("x")
    ledger = PausingLedger(sessions, "review")
    dispatcher = dispatchers(sessions, vault, {"x": x}, ledger=ledger)
    dispatcher.wake()
    assert ledger.claimed.wait(5)  # claimed (committed) and not yet handed to a sender
    stopper = threading.Thread(target=dispatcher.stop)
    stopper.start()
    assert wait_for(lambda: dispatcher._stopping)
    ledger.go.set()
    stopper.join(5)
    assert x.posts == [], f"{len(x.posts)} posts started after stop()"
    assert [(d.state, d.attempts) for d in rows(sessions)] == [("pending", 0)] * 3


# 4. claim_due commits the claims, then reads the jobs. If that read fails, the claims
#    stay "sending" with nobody sending them: nothing is retried "at the next poll" as
#    the log says, and only the stale sweep (HTTP timeout + 60 s in `make run`) frees
#    them — as unknown, so each is then looked for on the platform before it is sent.
def test_a_failed_read_after_a_batch_claim_does_not_strand_the_batch(
    sessions, vault, engine, daemons
):
    add_account(sessions, vault, "x", "union", user_id="42")
    x = FakeAsyncPlatform("x")
    failed = threading.Event()

    def fail_the_first_job_read(conn, cursor, statement, parameters, context, executemany):
        if (
            not failed.is_set()
            and "accounts.credentials" in statement
            and "parts_done" in statement
        ):
            failed.set()
            raise OperationalError(statement, parameters, Exception("server closed the connection"))

    event.listen(engine, "before_cursor_execute", fail_the_first_job_read)
    daemon = daemons(x)
    try:
        queue(sessions, spec("Rally at noon", at=datetime.now(UTC)), allow_past=True)
        assert failed.wait(5)
        assert wait_for(lambda: states(sessions) == ["sent"], timeout=2), states(sessions)
        assert len(x.posts) == 1
    finally:
        daemon.stop()
        event.remove(engine, "before_cursor_execute", fail_the_first_job_read)


# 5. Group commit: one executemany per statement, yet each writer learns its own row
#    count — on PostgreSQL (psycopg 3) as on SQLite — so a lost claim is never "sent".
def test_a_grouped_round_gives_each_writer_its_own_row_count(sessions, vault, engine):
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, claimed_by="me"))
        s.execute(update(Delivery).where(Delivery.id == ids[1]).values(claimed_by="other"))
        s.commit()
    group = GroupCommit(engine)
    try:
        writes = [
            _Write(
                SENT, {"did": i, "me": "me", "parts": 1, "ids": [f"p{i}"], "url": None, "now": now}
            )
            for i in ids
        ]
        group._commit(writes)  # one round, as the writer thread would run it
        assert [w.done.result(1) for w in writes] == [1, 0, 1]
    finally:
        group.close()
    assert states(sessions) == ["sent", "sending", "sent"]
    assert [d.platform_ids for d in rows(sessions)] == [[f"p{ids[0]}"], [], [f"p{ids[2]}"]]


def test_a_grouped_round_where_every_claim_is_held_needs_no_row_by_row_rerun(
    sessions, vault, engine
):
    # The driver's executemany row count is the sum over its rows (psycopg 3 as sqlite3),
    # so a clean round is not rolled back and rerun statement by statement.
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(3)])
    with sessions() as s:
        s.execute(update(Delivery).values(state=DeliveryState.SENDING, claimed_by="me"))
        s.commit()
    group = GroupCommit(engine)
    try:
        params = {"me": "me", "parts": 1, "ids": ["p"], "url": None, "now": now}
        writes = [_Write(SENT, {"did": i, **params}) for i in ids]
        assert group._apply(writes, grouped=True) == [1, 1, 1]
    finally:
        group.close()
    assert states(sessions) == ["sent"] * 3


# 6. max_in_flight bounds what is claimed and unfinished. claim_due takes up to ``room``
#    pending rows *and* up to ``threads_free`` unknown ones on top, so with unknown
#    outcomes due the bound is passed by up to ``threads``.
def test_claims_never_exceed_max_in_flight_when_unknown_outcomes_are_due(
    sessions, vault, dispatchers
):
    now = datetime.now(UTC)
    ids = due_now(sessions, vault, *[f"post {n}" for n in range(4)])
    with sessions() as s:  # two earlier attempts whose answers were lost
        s.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[:2]))
            .values(state=DeliveryState.UNKNOWN, first_sending_at=now, attempts=1)
        )
        s.commit()
    ledger = PausingLedger(sessions, "review")
    dispatcher = dispatchers(
        sessions, vault, {"x": FakeAsyncPlatform("x")}, ledger=ledger, max_in_flight=2
    )
    dispatcher.wake()
    assert ledger.claimed.wait(5)  # committed; nothing sent yet
    try:
        assert states(sessions).count(DeliveryState.SENDING) <= 2
    finally:
        ledger.go.set()


# 7. The group writer fails to record a post that went out on the asyncio path: the
#    delivery is looked for (and found) before anything is sent again.
def test_a_failed_group_write_after_an_async_send_is_reconciled_not_resent(
    sessions, vault, engine, daemons
):
    add_account(sessions, vault, "x", "union", user_id="42")
    x = FakeAsyncPlatform("x")
    failures = {"left": 2}  # the grouped round, then its rerun write by write

    def fail_recording_sent(conn, cursor, statement, parameters, context, executemany):
        if (
            failures["left"]
            and statement.startswith("UPDATE deliveries")
            and "sent_at" in statement
        ):
            failures["left"] -= 1
            raise OperationalError(statement, parameters, Exception("disk I/O error"))

    event.listen(engine, "before_cursor_execute", fail_recording_sent)
    daemon = daemons(x, RetryPolicy(reconcile_seconds=0.1))
    try:
        queue(sessions, spec("Rally at noon", at=datetime.now(UTC)), allow_past=True)
        assert wait_for(lambda: states(sessions) == ["sent"], timeout=5), states(sessions)
    finally:
        daemon.stop()
        event.remove(engine, "before_cursor_execute", fail_recording_sent)
    assert failures["left"] == 0
    assert [p["text"] for p in x.posts] == ["Rally at noon"]
    assert any(call.startswith("find:") for call in x.calls)


# --- the burst path's HTTP session against the SDK path's ------------------------------


class _Recorder(BaseHTTPRequestHandler):
    """Accepts any create: an X-shaped and a Graph-shaped id in one answer."""

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append(dict(self.headers.items()))
        body = json.dumps({"data": {"id": "5", "text": "hi"}, "id": "9_1"}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def recorder() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server, url = _serve()
    yield server, url
    server.shutdown()
    server.server_close()


def burst(platform, creds: Credentials) -> Published:
    """One post through the platform's asyncio publisher, as the dispatcher sends it."""

    async def run() -> Published:
        async with async_session(timeout=5, limit=10) as session:
            return await platform.async_publisher(session).publish(creds, "hi", link=None)

    return asyncio.run(run())


@pytest.fixture
def netrc_on_a_proxied_host(tmp_path: Path, monkeypatch, unused_port_url: str) -> None:
    """A machine with a proxy in its environment (not used for loopback) and a ~/.netrc
    with a default entry, as many developer and CI machines have."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login backup password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", unused_port_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def unused_port_url() -> str:
    server, url = _serve()
    server.server_close()
    return url


# 8. async_session turns trust_env on whenever a proxy is set, and aiohttp's trust_env
#    also reads ~/.netrc (requests' did too: routing.session_for turns it off for that
#    reason). With a matching entry the X request, which carries its own Authorization
#    header, is refused by aiohttp with ValueError before it is sent; every burst post
#    becomes "unknown" and waits for a reconciliation.
def test_a_netrc_on_a_proxied_host_does_not_break_x_burst_posts(recorder, netrc_on_a_proxied_host):
    server, url = recorder
    published = burst(XPlatform("ck", "cs", api_base_url=url), Credentials("t", "s", "42"))
    assert published.platform_id == "5"
    assert server.seen[0]["Authorization"].startswith("OAuth ")


# 9. ... and on Facebook, where the Page token travels in the body, aiohttp adds the
#    netrc password as Basic auth: a secret of the machine's is sent to Facebook.
def test_a_netrc_password_is_never_sent_to_facebook(recorder, netrc_on_a_proxied_host):
    server, url = recorder
    fb = FacebookPlatform(graph_base_url=url, www_base_url=url)
    assert burst(fb, Credentials("page-token", "", "9")).platform_id == "9_1"
    assert "Authorization" not in server.seen[0], server.seen[0]["Authorization"]


# 10. routing.session_for trusts REQUESTS_CA_BUNDLE (a TLS-inspecting proxy's CA); the
#     burst path does not, so behind such a proxy every plain single post fails to
#     connect, is retried on the same path and ends "failed" after MAX_ATTEMPTS, while
#     threads and checks (the SDK path) go out.
def _self_signed(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "ca.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_path, key_path)
    return cert_path, tls


def test_the_burst_path_trusts_the_ca_bundle_the_sdk_path_trusts(tmp_path, monkeypatch):
    ca, tls = _self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    server, url = _serve(tls)
    try:
        x = XPlatform("ck", "cs", api_base_url=url)
        creds = Credentials("t", "s", "42")
        assert x.publish(creds, "hi").platform_id == "5"  # the SDK path connects
        assert burst(x, creds).platform_id == "5"
    finally:
        server.shutdown()
        server.server_close()


# 11. A post's absence is trusted only ``settle_seconds`` after the first attempt
#     (timelines lag), measured from ``first_sending_at`` — the claim. A claim used to be
#     made a moment before its send; now a job can wait in the send pool after its claim,
#     and that wait is taken off the settle time: a post whose answer was lost is looked
#     for too soon, not seen yet, and sent a second time.
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
    assert wait_for(lambda: states(sessions) == ["sent", "sent"], timeout=8)
    daemon.stop()
    assert sorted(p["text"] for p in x.posts) == ["first", "second"], "posted twice"


# 12. Daemon.stop() sets ``stopping``, then waits for the scheduler's running jobs (an
#     engagement round can take a while) before it stops the dispatcher. The old
#     per-delivery jobs looked at ``stopping`` before each send; the dispatcher does not,
#     so a burst larger than max_in_flight keeps starting new sends all that time.
class SlowAsyncPlatform(FakeAsyncPlatform):
    """Each burst send takes ``hold`` seconds; records when each one started."""

    def __init__(self, hold: float) -> None:
        super().__init__("x")
        self.hold = hold
        self.started: list[datetime] = []

    def async_publisher(self, session):
        platform = self

        class Publisher:
            async def publish(self, creds, text, *, link):
                platform.started.append(datetime.now(UTC))
                await asyncio.sleep(platform.hold)
                return platform.publish(creds, text, link=link)

        return Publisher()


def test_a_stopping_daemon_starts_no_new_sends_while_housekeeping_finishes(
    sessions, vault, daemons
):
    due_now(sessions, vault, *[f"post {n}" for n in range(100)])
    x = SlowAsyncPlatform(hold=0.05)
    slow, entered = threading.Event(), threading.Event()

    def housekeeping():  # e.g. an engagement round that is reading metrics
        if slow.is_set():
            entered.set()
            time.sleep(1.0)

    daemon = daemons(x, max_in_flight=4, periodic=[("housekeeping", housekeeping, 0.05)])
    assert wait_for(lambda: len(x.started) >= 8)
    slow.set()
    assert entered.wait(5)
    asked = datetime.now(UTC)
    daemon.stop()
    late = [t for t in x.started if t > asked + timedelta(seconds=0.05)]
    assert late == [], f"{len(late)} sends started after stop() was called"


# 13. The same settle rule, before the rework too: a retry's answer is lost, and the
#     post is looked for ``settle_seconds`` after the *first* attempt, which failed
#     long before. The retry's post is seconds old, not on the timeline yet, and is sent
#     again.
def test_a_retry_whose_answer_is_lost_is_not_sent_twice(sessions, vault, daemons):
    due_now(sessions, vault, "Rally at noon")
    x = LaggingTimeline(hold=0.0, lag=0.8)
    x.fail_next(TransientError("could not connect", retry_after=2.0), "accept_then_lose")
    daemons(x, RetryPolicy(settle_seconds=1.0, reconcile_seconds=0.1))
    assert wait_for(lambda: states(sessions) == ["sent"], timeout=8)
    assert [p["text"] for p in x.posts] == ["Rally at noon"], "posted twice"


# 14. The asyncio path's own window: a cancel committed between claim_due's claim and
#     its read of the jobs. The job is read with ``cancelled`` true, yet a plain single
#     post takes the asyncio path, which never looks at it (the re-check of d5a127c is
#     on the thread path only).
def test_a_post_cancelled_just_after_its_claim_is_not_sent_on_the_asyncio_path(
    sessions, vault, engine, dispatchers
):
    due_now(sessions, vault, "Rally at noon")
    cancelled = threading.Event()

    def cancel_before_the_job_read(conn, cursor, statement, parameters, context, executemany):
        if cancelled.is_set() or "accounts.credentials" not in statement:
            return
        if "parts_done" not in statement:
            return
        cancelled.set()
        with sessions() as s:  # another process (the web page, the CLI) cancels it now
            post = find_post(s, "demo/Rally-at-noon")
            assert post is not None
            cancel_post(s, post)

    event.listen(engine, "before_cursor_execute", cancel_before_the_job_read)
    try:
        x = FakeAsyncPlatform("x")
        dispatcher = dispatchers(sessions, vault, {"x": x})
        dispatcher.wake()
        assert cancelled.wait(5)
        assert wait_for(lambda: states(sessions) != ["sending"])
    finally:
        event.remove(engine, "before_cursor_execute", cancel_before_the_job_read)
    assert x.posts == [], "a post cancelled before its send went out"
    assert states(sessions) == ["cancelled"]


# 15. requests takes REQUESTS_CA_BUNDLE as a file *or* a directory of hashed certificates
#     (HTTPAdapter.cert_verify: ca_cert_dir); async_session passed it to
#     ssl.create_default_context(cafile=...) either way, which raises for a directory:
#     the dispatcher's loop failed at start and the daemon would not run at all.
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to hash the CA")
def test_the_burst_path_takes_a_ca_directory_as_the_sdk_path_does(tmp_path, monkeypatch):
    ca, tls = _self_signed(tmp_path)
    hashed = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / f"{hashed}.0").write_bytes(ca.read_bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs))
    server, url = _serve(tls)
    try:
        x = XPlatform("ck", "cs", api_base_url=url)
        creds = Credentials("t", "s", "42")
        assert x.publish(creds, "hi").platform_id == "5"  # the SDK path connects
        assert burst(x, creds).platform_id == "5"
    finally:
        server.shutdown()
        server.server_close()
