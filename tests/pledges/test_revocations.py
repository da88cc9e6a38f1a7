"""Revoking deleted tokens at their networks: retried with back-off while the network
does not answer, dropped once it has let go, given up on (loudly) when it never will."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AuthError, Credentials, PermanentError, TransientError
from bot.platforms.bluesky import oauth
from bot.pledges import revocations
from bot.storage.models import TokenRevocation
from bot.storage.vault import Vault

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
TOKEN = "secret-token-never-logged"  # noqa: S105 - a test value


class Network:
    """A fake network's revocation endpoint: fails with ``failure`` while it is set,
    records the tokens it revoked."""

    def __init__(self) -> None:
        self.failure: Exception | None = None
        self.revoked: list[str] = []

    def revoke(self, creds: Credentials) -> None:
        if self.failure is not None:
            raise self.failure
        self.revoked.append(creds.token)


def queue_one(sessions: sessionmaker[Session], vault: Vault, platform: str = "bluesky") -> None:
    with sessions() as session:
        sealed = vault.seal(Credentials(token=TOKEN))
        assert revocations.queue(session, [(7, platform, sealed)], NOW) == 1
        session.commit()


def rows(sessions: sessionmaker[Session]) -> list[TokenRevocation]:
    with sessions() as session:
        found = revocations.pending(session)
        session.expunge_all()
        return found


def run(
    sessions: sessionmaker[Session], vault: Vault, network: Network, at: datetime
) -> revocations.RevocationReport:
    return revocations.revoke_due(sessions, vault, {"bluesky": network.revoke}, at)


def test_only_networks_that_can_revoke_get_a_row(sessions: sessionmaker[Session], vault: Vault):
    with sessions() as session:
        sealed = vault.seal(Credentials(token=TOKEN))
        accounts = [(1, "x", sealed), (2, "facebook", sealed), (3, "mastodon", sealed)]
        assert revocations.queue(session, accounts, NOW) == 1
        session.commit()
    assert [r.platform for r in rows(sessions)] == ["mastodon"]


def test_an_unanswered_revocation_backs_off_and_is_revoked_when_the_network_is_back(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    queue_one(sessions, vault)
    network = Network()
    network.failure = TransientError("the authorization server did not answer")
    at = NOW
    waits = []
    with caplog.at_level(logging.INFO):
        for _ in range(len(revocations.BACKOFF) + 1):
            assert run(sessions, vault, network, at).retry == 1
            [row] = rows(sessions)
            waits.append(row.next_attempt_at - at)
            assert (
                run(sessions, vault, network, row.next_attempt_at - timedelta(seconds=1)).retry == 0
            )
            at = row.next_attempt_at
        network.failure = None
        assert run(sessions, vault, network, at).revoked == 1

    assert waits == [*revocations.BACKOFF, revocations.BACKOFF[-1]]
    assert network.revoked == [TOKEN] and rows(sessions) == []
    assert "could not be revoked yet" in caplog.text and TOKEN not in caplog.text


def test_a_network_silent_for_a_week_is_given_up_on_with_an_error_for_the_operator(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    queue_one(sessions, vault)
    network = Network()
    network.failure = TransientError("the authorization server did not answer")

    with caplog.at_level(logging.INFO):
        report = run(sessions, vault, network, NOW + revocations.GIVE_UP_AFTER)

    assert report.gave_up == 1 and rows(sessions) == []
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up revoking the bluesky token of account 7" in error.getMessage()
    assert "Bluesky settings" in error.getMessage()
    assert TOKEN not in caplog.text


def test_a_token_the_network_no_longer_knows_counts_as_revoked_without_an_error(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    # RFC 7009 section 2.2: the endpoint answers 200 for a token it does not know (the
    # supporter revoked it, it expired), as for one it has just revoked: no error.
    queue_one(sessions, vault)
    network = Network()

    with caplog.at_level(logging.INFO):
        first = run(sessions, vault, network, NOW)
        queue_one(sessions, vault)
        again = run(sessions, vault, network, NOW)

    assert (first.revoked, again.revoked, again.gave_up) == (1, 1, 0)
    assert rows(sessions) == [] and not [r for r in caplog.records if r.levelno >= 40]


def test_credentials_clarion_cannot_revoke_with_are_given_up_not_taken_for_dead(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    queue_one(sessions, vault)
    network = Network()
    network.failure = AuthError("this Bluesky account has no OAuth session: reconnect it")

    with caplog.at_level(logging.INFO):
        assert run(sessions, vault, network, NOW).gave_up == 1

    assert rows(sessions) == []
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up revoking the bluesky token of account 7" in error.getMessage()


def test_a_revoker_failing_unexpectedly_backs_off_alone_and_is_given_up_in_time(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = {7: "token-of-seven-secret", 8: "token-of-eight-secret", 9: "token-of-nine-secret"}
    with sessions() as session:
        sealed = [(a, "bluesky", vault.seal(Credentials(token=t))) for a, t in tokens.items()]
        assert revocations.queue(session, sealed, NOW) == 3
        session.commit()
    revoked: list[str] = []

    def revoke(creds: Credentials) -> None:
        if creds.token == tokens[8]:
            # as an SDK's argument check might, quoting what it was given
            raise ValueError(f"malformed token {creds.token!r}")
        revoked.append(creds.token)

    with caplog.at_level(logging.INFO):
        first = revocations.revoke_due(sessions, vault, {"bluesky": revoke}, NOW)
        assert (first.revoked, first.retry) == (2, 1)
        assert sorted(revoked) == sorted([tokens[7], tokens[9]])
        [row] = rows(sessions)
        assert row.account_id == 8 and row.next_attempt_at == NOW + revocations.BACKOFF[0]
        assert "unexpected ValueError" in row.last_error and tokens[8] not in row.last_error
        report = first
        while rows(sessions):
            report = revocations.revoke_due(
                sessions, vault, {"bluesky": revoke}, rows(sessions)[0].next_attempt_at
            )
            assert report.revoked == 0

    assert report.gave_up == 1
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "gave up revoking the bluesky token of account 8" in error.getMessage()
    assert "unexpected ValueError" in error.getMessage()
    assert all(t not in caplog.text for t in tokens.values())


def test_a_refusal_for_good_is_given_up_on_at_once(
    sessions: sessionmaker[Session], vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    queue_one(sessions, vault)
    network = Network()
    network.failure = PermanentError("WEB_BASE_URL changed")

    with caplog.at_level(logging.INFO):
        assert run(sessions, vault, network, NOW).gave_up == 1

    assert rows(sessions) == [] and "WEB_BASE_URL changed" in caplog.text


def test_a_row_being_tried_elsewhere_is_not_tried_twice(
    sessions: sessionmaker[Session], vault: Vault
) -> None:
    queue_one(sessions, vault)
    network, other = Network(), Network()

    def revoke_while_racing(creds: Credentials) -> None:
        # Meanwhile the daemon looks, and the withdraw page asks for this account: the
        # row is leased to this attempt, so both leave it alone.
        assert run(sessions, vault, other, NOW).revoked == 0
        by_page = {"bluesky": other.revoke}
        assert revocations.revoke_due(sessions, vault, by_page, NOW, account_ids=[7]).revoked == 0
        network.revoke(creds)

    report = revocations.revoke_due(sessions, vault, {"bluesky": revoke_while_racing}, NOW)

    assert report.revoked == 1 and network.revoked == [TOKEN] and other.revoked == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"error": "unauthorized_client"}, PermanentError),
        (401, {"error": "invalid_client"}, PermanentError),
        (400, {"error": "invalid_request"}, PermanentError),
        (403, None, PermanentError),
        (400, {"error": "use_dpop_nonce"}, TransientError),
        (400, {"error": "invalid_dpop_proof"}, TransientError),
        (503, None, TransientError),
        (429, {"error": "rate_limited"}, TransientError),
    ],
)
def test_a_bluesky_revocation_refusal_is_never_read_as_a_dead_token(
    status: int, body: dict[str, str] | None, kind: type[Exception]
) -> None:
    # RFC 7009 section 2.2: a token the server no longer knows is answered 200, so a
    # refusal is about Clarion's client or request; only a proof or an outage may heal.
    error = oauth.revocation_refusal(status, body)
    assert type(error) is kind and not isinstance(error, AuthError)
