"""Supporters' Bluesky sessions are refreshed before they run out, stored at once, once
per account however many workers ask, and a refresh spent by another process is
picked up from the database rather than mistaken for a revoked sign-in. Against the
sandbox's authorization server over real HTTP, with the real OAuth client."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from bot.platforms.base import AccountInfo, AuthError
from bot.platforms.bluesky import oauth
from bot.platforms.http import ANY_HOST, session_for
from bot.pledges import oauth_sessions, pledging
from bot.pledges.jobs import PledgeJobs
from bot.pledges.readiness import check_readiness
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.storage.models import Account, Pledge, PledgeCampaign
from tests.support.bluesky import call_pds
from tests.support.oauth_pledges import sign_in_bluesky
from tests.support.web import add_campaign, make_runtime

_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def routes(sandbox: SandboxHandle) -> dict[str, str]:
    return {ANY_HOST: sandbox.url}


@pytest.fixture
def client(routes: dict[str, str]) -> oauth.OAuthClient:
    config = oauth.client_config("http://127.0.0.1:8080", None)
    return oauth.OAuthClient(config, session_for(routes), nonces=oauth.NonceBook())


@pytest.fixture
def runtime(engine: Engine, sandbox: SandboxHandle) -> Runtime:
    return make_runtime(engine, sandbox, "http://127.0.0.1:8080")


def pledged(
    runtime: Runtime,
    client: oauth.OAuthClient,
    sandbox: SandboxHandle,
    routes: dict[str, str],
    *,
    release_in: timedelta = timedelta(minutes=5),
) -> tuple[int, dict[str, Any]]:
    """A supporter signs in and pledges to a campaign released ``release_in`` from now;
    returns (account id, the creds stored)."""
    assert sandbox.state is not None
    who = sandbox.state.bluesky.create_account(f"keen{next(_numbers)}", "pw")
    creds = sign_in_bluesky(client, routes[ANY_HOST], who.handle, "pw")
    slug = f"camp{next(_numbers)}"
    pc_id = add_campaign(
        runtime,
        slug,
        message={"bluesky": "Stand with the reps"},
        release_at=datetime.now(UTC) + release_in,
    )
    with runtime.sessions() as session:
        pc = session.get(PledgeCampaign, pc_id)
        assert pc is not None
        pledging.add_pledge(
            session,
            runtime.vault,
            pc,
            "bluesky",
            oauth.credentials_of(creds),
            AccountInfo(who.did, who.handle, who.handle),
            now=datetime.now(UTC),
        )
        account_id = session.scalar(select(Account.id).where(Account.platform_user_id == who.did))
    assert account_id is not None
    return account_id, creds


def stored(runtime: Runtime, account_id: int) -> dict[str, Any]:
    with runtime.sessions() as session:
        sealed = session.scalar(select(Account.credentials).where(Account.id == account_id))
    assert sealed
    return oauth.creds_of(runtime.vault.open(sealed))


def store(runtime: Runtime, account_id: int, creds: dict[str, Any]) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(credentials=runtime.vault.seal(oauth.credentials_of(creds)))
        )
        session.commit()


def test_a_session_about_to_expire_is_refreshed_and_the_new_one_stored_at_once(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)

    got = oauth_sessions.fresh_credentials(
        runtime.sessions, runtime.vault, client, account_id, now=creds["expires_at"]
    )

    renewed = oauth.creds_of(got)
    assert renewed["access_token"] != creds["access_token"]
    assert stored(runtime, account_id) == renewed
    with pytest.raises(AuthError):
        client.refreshed(creds)  # the old refresh token was spent


def test_a_fresh_session_is_used_as_it_is(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)
    got = oauth_sessions.fresh_credentials(runtime.sessions, runtime.vault, client, account_id)
    assert oauth.creds_of(got) == creds == stored(runtime, account_id)


def test_many_workers_asking_at_once_refresh_the_session_once(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)
    store(runtime, account_id, {**creds, "expires_at": time.time()})  # due now
    counting = CountingRefreshes(client)
    tokens: list[str] = []

    def worker() -> None:
        got = oauth_sessions.fresh_credentials(
            runtime.sessions, runtime.vault, counting, account_id
        )
        tokens.append(oauth.creds_of(got)["access_token"])

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(tokens) == 6 and len(set(tokens)) == 1
    assert counting.calls == 1  # not six single-use refresh tokens raced for one
    assert tokens[0] != creds["access_token"]
    assert stored(runtime, account_id)["access_token"] == tokens[0]


class CountingRefreshes(oauth.OAuthClient):
    def __init__(self, inner: oauth.OAuthClient) -> None:
        super().__init__(inner.config, inner.session, nonces=inner.nonces)
        self.calls = 0

    def refreshed(self, creds: Any) -> dict[str, Any]:
        self.calls += 1
        return super().refreshed(creds)


class OtherProcessFirst(oauth.OAuthClient):
    """A client that, just before it refreshes, lets "another process" refresh the same
    session and store the result: the race two Clarion processes can run."""

    def __init__(self, inner: oauth.OAuthClient, runtime: Runtime, account_id: int) -> None:
        super().__init__(inner.config, inner.session, nonces=inner.nonces)
        self.runtime, self.account_id = runtime, account_id
        self.theirs: dict[str, Any] = {}

    def refreshed(self, creds: Any) -> dict[str, Any]:
        self.theirs = super().refreshed(creds)
        store(self.runtime, self.account_id, self.theirs)
        return super().refreshed(creds)  # ours: the same, now spent, refresh token


def test_a_refresh_spent_by_another_process_uses_what_that_process_stored(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)
    racing = OtherProcessFirst(client, runtime, account_id)

    got = oauth_sessions.fresh_credentials(
        runtime.sessions, runtime.vault, racing, account_id, now=creds["expires_at"]
    )

    assert oauth.creds_of(got) == racing.theirs == stored(runtime, account_id)


def test_a_session_refused_by_bluesky_is_an_auth_error(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)
    client.refreshed(creds)  # spent behind the database's back: as good as revoked

    with pytest.raises(AuthError):
        oauth_sessions.fresh_credentials(
            runtime.sessions, runtime.vault, client, account_id, now=creds["expires_at"]
        )


def test_only_pledges_going_out_soon_are_refreshed_ahead_of_the_release(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    soon, soon_creds = pledged(runtime, client, sandbox, routes, release_in=timedelta(minutes=5))
    later, later_creds = pledged(runtime, client, sandbox, routes, release_in=timedelta(days=3))
    spent, spent_creds = pledged(runtime, client, sandbox, routes, release_in=timedelta(minutes=3))
    client.refreshed(spent_creds)

    looked, refused = oauth_sessions.refresh_expiring(
        runtime.sessions, runtime.vault, client, datetime.now(UTC), ahead=timedelta(minutes=20)
    )

    assert (looked, refused) == (2, 1)
    assert stored(runtime, soon)["access_token"] != soon_creds["access_token"]
    assert stored(runtime, later) == later_creds


def test_the_daemons_job_refreshes_the_pledges_going_out_soon(
    runtime: Runtime, client: oauth.OAuthClient, sandbox: SandboxHandle, routes: dict[str, str]
) -> None:
    account_id, creds = pledged(runtime, client, sandbox, routes)
    store(runtime, account_id, {**creds, "expires_at": time.time() + 60})

    assert PledgeJobs(runtime).bluesky_sessions() == (1, 0)

    assert stored(runtime, account_id)["access_token"] != creds["access_token"]


class PdsCheck:
    """Verifies a Bluesky account as an adapter would: getSession on the PDS with the
    DPoP-bound token."""

    def __init__(self, routes: dict[str, str]) -> None:
        self.http = session_for(routes)

    def verify(self, credentials: Any) -> AccountInfo:
        creds = oauth.creds_of(credentials)
        answer = call_pds(self.http, creds, oauth.NonceBook())
        if answer.status_code == 401:
            raise AuthError(f"the PDS refused the token: {answer.json()['error']}")
        return AccountInfo(creds["did"], creds["handle"], creds["handle"])


@pytest.mark.parametrize("refreshed_first", [True, False])
def test_the_readiness_check_refreshes_a_bluesky_session_before_checking_it(
    runtime: Runtime,
    client: oauth.OAuthClient,
    sandbox: SandboxHandle,
    routes: dict[str, str],
    refreshed_first: bool,
) -> None:
    assert sandbox.state is not None
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.access_seconds = -1.0  # the token is already out of date, as a day later
    try:
        account_id, _ = pledged(runtime, client, sandbox, routes, release_in=timedelta(hours=6))
    finally:
        oauth_state.access_seconds = 900.0
    with runtime.sessions() as session:  # checked at pledge time; due again a day before
        session.execute(update(Pledge).values(verified_at=None))
        session.commit()
    fresh = {
        "bluesky": lambda aid: oauth_sessions.fresh_credentials(
            runtime.sessions, runtime.vault, client, aid
        )
    }

    report = check_readiness(
        runtime.sessions,
        runtime.vault,
        {"bluesky": PdsCheck(routes)},  # type: ignore[dict-item]
        now=datetime.now(UTC),
        hours=24,
        base_url="http://127.0.0.1:8080",
        fresh=fresh if refreshed_first else None,
    )

    # Without the refresh a working sign-in would be taken for a broken one.
    assert (report.ready, report.broken) == ((1, 0) if refreshed_first else (0, 1))
