"""A pledge campaign on a real (in-process) sandbox, released by a real daemon."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, update

from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer
from bot.platforms.base import AccountInfo, Credentials
from bot.pledges import texts
from bot.pledges.jobs import periodic
from bot.pledges.pledging import add_pledge, find_campaign, key_hash
from bot.pledges.release import ReleaseStatus, status
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxAdmin, SandboxHandle
from bot.settings import load_settings
from bot.storage.models import (
    Account,
    AccountStatus,
    Campaign,
    Delivery,
    DeliveryState,
    GoalPolicy,
    Pledge,
    PledgeCampaign,
    PledgeState,
)
from bot.storage.vault import generate_key
from tests.support.pledges import make_campaign


@dataclass
class Supporter:
    platform: str
    user_id: str
    handle: str
    token: str
    secret: str
    email: str | None = None
    receipt: Any = None


@dataclass
class Release:
    runtime: Runtime
    admin: SandboxAdmin
    slug: str
    supporters: list[Supporter] = field(default_factory=list)

    def status(self) -> ReleaseStatus:
        with self.runtime.sessions() as s:
            pc = find_campaign(s, self.slug)
            assert pc is not None
            return status(s, pc)


def sandbox_runtime(
    engine: Engine, database_url: str, url: str, admin: SandboxAdmin, **env: str
) -> Runtime:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "SANDBOX": "on",
            "MAX_ATTEMPTS": "12",
            "RETRY_BASE_SECONDS": "0.05",
            "RETRY_MAX_SECONDS": "0.5",
            "HTTP_TIMEOUT_SECONDS": "5",
            "DELIVERY_CONCURRENCY": "32",
            "POLL_INTERVAL_SECONDS": "0.2",
            **env,
        },
    )
    return Runtime(settings, engine).with_sandbox(url, admin.app())


def pledged_campaign(
    runtime: Runtime,
    admin: SandboxAdmin,
    *,
    x: int,
    facebook: int,
    release_in: float,
    emails: bool = False,
    slug: str = "fujitsu",
) -> Release:
    """``x`` sandbox X users and ``facebook`` Pages, each pledged through add_pledge as
    the web app does after a sign-in."""
    with runtime.sessions() as s:
        make_campaign(
            s,
            slug,
            goal=1,
            policy=GoalPolicy.ALL_OR_NOTHING,
            window=0,
            variants=["Reinstate the Fujitsu reps", "Solidarity with the Fujitsu reps"],
            release_at=datetime.now(UTC) + timedelta(days=1),
        )
    run = Release(runtime, admin, slug)
    for i in range(x):
        user = admin.create_x_user(f"{slug[:6]}x{i}", followers=10 + i)
        run.supporters.append(
            Supporter(
                "x",
                user["id"],
                user["username"],
                user["access_token"],
                user["access_token_secret"],
                f"supporter{i}@union.org.uk" if emails else None,
            )
        )
    for i in range(facebook):
        page = admin.create_page(f"{slug} branch {i}", followers=100 + i)
        run.supporters.append(
            Supporter("facebook", str(page["page_id"]), f"branch{i}", page["page_token"], "")
        )
    now = datetime.now(UTC)
    with runtime.sessions() as s:
        pc = find_campaign(s, slug)
        assert pc is not None
        for sup in run.supporters:
            sup.receipt = add_pledge(
                s,
                runtime.vault,
                pc,
                sup.platform,
                Credentials(sup.token, sup.secret, sup.user_id),
                AccountInfo(sup.user_id, sup.handle, sup.handle, 10),
                email=sup.email,
                now=now,
            )
        # then bring the release close (pledging closes PREPARE before it)
        pc.release_at = datetime.now(UTC) + timedelta(seconds=release_in)
        s.commit()
    return run


def short_checks(deliverer: Deliverer) -> Deliverer:
    """The same deliverer, looking for a post whose answer was lost after 0.2 s instead of
    production's 5 s (reconcile) and trusting its absence from then (settle, 10 s): the
    sandbox shows a post on its timeline as soon as it is created, so there is no lag to
    wait out."""
    policy = replace(deliverer.policy, reconcile_seconds=0.2, settle_seconds=0.2)
    return Deliverer(deliverer.ledger, deliverer.platforms, deliverer.vault, policy)


def run_daemon_until_final(run: Release, timeout: float) -> ReleaseStatus:
    runtime = run.runtime
    s = runtime.settings
    daemon = Daemon(
        short_checks(runtime.deliverer()),
        runtime.ledger(),
        runtime.lock(),
        poll_interval=s.poll_interval_seconds,
        concurrency=s.delivery_concurrency,
        periodic=[job for job in periodic(runtime) if job[0] == "pledge-releases"],
    )
    daemon.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = run.status()
            if st.state == "released":
                return st
            time.sleep(0.2)
        raise AssertionError(f"the release did not finish in {timeout} s: {run.status()}")
    finally:
        daemon.stop()


def posts_by_account(sandbox: SandboxHandle) -> dict[str, list[str]]:
    return {
        str(account["id"]): [p["text"] for p in account["posts"]]
        for account in sandbox.admin.timeline()
    }


def seeded_campaign(
    runtime: Runtime,
    admin: SandboxAdmin,
    *,
    x: int,
    facebook: int,
    window: int,
    slug: str = "fujitsu",
) -> tuple[Release, set[str]]:
    """Like ``pledged_campaign`` but quick at thousands: the sandbox's accounts are made in
    one seeding call per platform (each with one old post, whose ids are returned so that
    checks can leave them out), and the supporter accounts and pledges are written in
    bulk, with what ``add_pledge`` writes for each (sealed token, variant in turn, a
    withdraw key's hash, verified now). The release is a day away until ``release_in``
    moves it; it is spread over ``window`` minutes."""
    made: list[Supporter] = []
    old_posts: set[str] = set()
    for platform, count in (("x", x), ("facebook", facebook)):
        if not count:
            continue
        answer = admin._call(  # noqa: SLF001 - the admin API's seeding route
            "POST", "/seed", json={"platform": platform, "accounts": count, "posts_per_account": 1}
        )
        for a in answer["accounts"]:
            old_posts.update(str(i) for i in a["post_ids"])
            if platform == "x":
                made.append(
                    Supporter(
                        "x",
                        str(a["id"]),
                        a["username"],
                        a["access_token"],
                        a["access_token_secret"],
                    )
                )
            else:
                made.append(Supporter("facebook", str(a["id"]), a["name"], a["page_token"], ""))
    now = datetime.now(UTC)
    vault = runtime.vault
    with runtime.sessions() as s:
        pc = make_campaign(
            s,
            slug,
            goal=x + facebook,
            policy=GoalPolicy.ALL_OR_NOTHING,
            window=window,
            variants=["Reinstate the Fujitsu reps", "Solidarity with the Fujitsu reps"],
            release_at=now + timedelta(days=1),
        )
        account_ids = s.execute(
            insert(Account).returning(Account.id, sort_by_parameter_order=True),
            [
                {
                    "platform": sup.platform,
                    "owner_kind": "supporter",
                    "platform_user_id": sup.user_id,
                    "handle": sup.handle,
                    "name": sup.handle,
                    "followers": 10,
                    "is_default": False,
                    "credentials": vault.seal(Credentials(sup.token, sup.secret, sup.user_id)),
                    "token_fingerprint": vault.fingerprint(sup.token),
                    "source": "pledge",
                    "status": AccountStatus.ACTIVE,
                    "status_reason": "",
                }
                for sup in made
            ],
        ).scalars()
        turn: Counter[str] = Counter()
        rows = []
        for sup, account_id in zip(made, list(account_ids), strict=True):
            rows.append(
                {
                    "pledge_campaign_id": pc.id,
                    "account_id": account_id,
                    "platform": sup.platform,
                    "variant": texts.choose_variant(pc, sup.platform, turn[sup.platform]),
                    "created_at": now,
                    "withdraw_key_hash": key_hash(secrets.token_urlsafe(16)),
                    "followers": 10,
                    "state": PledgeState.ACTIVE,
                    "state_reason": "",
                    "verified_at": now,
                }
            )
            turn[sup.platform] += 1
        s.execute(insert(Pledge), rows)
        s.commit()
    return Release(runtime, admin, slug, made), old_posts


def release_in(run: Release, seconds: float) -> None:
    """Move the campaign's release to ``seconds`` from now."""
    with run.runtime.sessions() as s:
        s.execute(
            update(PledgeCampaign)
            .where(
                PledgeCampaign.campaign_id
                == select(Campaign.id).where(Campaign.slug == run.slug).scalar_subquery()
            )
            .values(release_at=datetime.now(UTC) + timedelta(seconds=seconds))
        )
        s.commit()


@contextmanager
def daemon_running(runtime: Runtime) -> Iterator[Daemon]:
    """The real daemon (dispatcher, ledger, the pledge release job) in this process."""
    s = runtime.settings
    daemon = Daemon(
        short_checks(runtime.deliverer()),
        runtime.ledger(),
        runtime.lock(),
        poll_interval=s.poll_interval_seconds,
        concurrency=s.delivery_concurrency,
        max_in_flight=s.delivery_max_in_flight,
        periodic=[job for job in periodic(runtime) if job[0] == "pledge-releases"],
    )
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def wait_for(run: Release, test: Callable[[ReleaseStatus], bool], timeout: float) -> ReleaseStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = run.status()
        if test(st):
            return st
        time.sleep(0.1)
    raise AssertionError(f"not reached in {timeout} s: {run.status()}")


def ledger_against_sandbox(
    run: Release, sandbox: SandboxHandle | SandboxAdmin, old_posts: set[str]
) -> list[str]:
    """Where the ledger and the sandbox disagree about the campaign's posts (an empty list
    when they agree exactly): every sent delivery's platform id is on the sandbox once, on
    its own account; no other delivery's account posted; nothing else was posted. The
    sandbox in this process, or a sandbox process's admin API."""
    admin = sandbox if isinstance(sandbox, SandboxAdmin) else sandbox.admin
    posted: dict[str, list[str]] = {}
    for account in admin.timeline():
        ids = [str(p["id"]) for p in account["posts"] if str(p["id"]) not in old_posts]
        posted[str(account["id"])] = ids
    every_id = Counter(i for ids in posted.values() for i in ids)
    problems: list[str] = []
    with run.runtime.sessions() as s:
        rows = s.execute(
            select(Delivery.id, Delivery.state, Delivery.platform_ids, Account.platform_user_id)
            .join(Pledge, Pledge.delivery_id == Delivery.id)
            .join(Account, Account.id == Delivery.account_id)
            .join(PledgeCampaign, PledgeCampaign.id == Pledge.pledge_campaign_id)
            .join(Campaign, Campaign.id == PledgeCampaign.campaign_id)
            .where(Campaign.slug == run.slug)
        ).all()
    sent = 0
    for delivery_id, state, platform_ids, user_id in rows:
        mine = posted.get(str(user_id), [])
        if state == DeliveryState.SENT:
            sent += 1
            ids = [str(i) for i in platform_ids or []]
            if len(ids) != 1 or every_id[ids[0]] != 1 or mine != ids:
                problems.append(f"delivery {delivery_id} sent as {ids}; account has {mine}")
        elif mine:
            problems.append(f"delivery {delivery_id} is {state} but its account posted {mine}")
    if sum(every_id.values()) != sent:
        problems.append(f"{sum(every_id.values())} posts on the sandbox, {sent} sent in the ledger")
    return problems
