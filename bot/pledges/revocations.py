"""Letting go at the network: revoking the supporters' tokens Clarion deletes.

Deleting a token from the database stops Clarion using it, but the session it belongs to
stays valid at the network until it expires (a Bluesky confidential client's for months, a
Mastodon token for ever). So wherever a supporter's Bluesky or Mastodon token is deleted
(``withdrawal.wipe_tokens``: a withdrawn pledge, a campaign over, a post's engagement
read), a row is queued here, in the same transaction, with the token still sealed; then:

- the withdraw page tries it straight after answering the supporter (a background task:
  the page never waits for the network, and a withdrawal never fails because of it);
- the daemon's ``pledge-token-revocations`` job tries every row that is due, every
  minute, backing off after each failure (``BACKOFF``);
- a row is removed once the network has revoked the token, and given up on, with an
  ERROR in the log naming the platform and account (never the token) and what the
  operator can tell the supporter, when the network refuses it for good or has not
  answered (or the revoker kept failing unexpectedly) for ``GIVE_UP_AFTER``.

There is no "already dead" outcome: RFC 7009 section 2.2 has the server answer 200 for a
token it no longer knows (expired, revoked by the supporter), which is indistinguishable
from, and counted as, revoked. A 4xx from a revocation endpoint means the *client* was
refused (invalid_client, unauthorized_client, invalid_request, a DPoP proof), never that
the token is dead, so the revokers raise PermanentError or TransientError for it.

Bluesky: RFC 7009 at the authorization server's ``revocation_endpoint``, with DPoP and the
client's authentication (``oauth.OAuthClient.revoke``). Mastodon: ``POST /oauth/revoke``
with the app's client id and secret (Mastodon.py ``revoke_access_token``); the app that
issued the token is not recorded with it, so each of Clarion's apps on that server is
offered in turn and the one the server accepts revokes it (Doorkeeper answers 403 to the
others, and 200 for a token it no longer knows, RFC 7009 section 2.2).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AuthError, Credentials, PermanentError, PlatformError
from bot.storage.models import MastodonApp, TokenRevocation
from bot.storage.vault import Vault, VaultError

if TYPE_CHECKING:
    from bot.platforms.bluesky.oauth import OAuthClient
    from bot.platforms.mastodon import MastodonPlatform
    from bot.runtime.wiring import Runtime

logger = logging.getLogger(__name__)

# The networks whose tokens Clarion can revoke; X's and Facebook's are only deleted.
REVOCABLE = frozenset({"bluesky", "mastodon"})
# Waits after the 1st, 2nd, ... failed attempt (the last one repeats): an outage of a few
# minutes is ridden out quickly, a long one is not hammered.
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
GIVE_UP_AFTER = timedelta(days=7)
# A claimed row is skipped by others this long: an attempt that crashed is tried again.
LEASE = timedelta(minutes=5)
BATCH = 200

# Revokes the token(s) in these credentials at the network; one attempt. Raises
# TransientError (try again later) or PermanentError (the network will not revoke it);
# an AuthError (credentials Clarion cannot revoke with) counts as permanent.
Revoker = Callable[[Credentials], None]


class Outcome(StrEnum):
    REVOKED = "revoked"
    RETRY = "retry"
    GAVE_UP = "gave_up"


@dataclass
class RevocationReport:
    revoked: int = 0
    retry: int = 0
    gave_up: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


def queue(session: Session, accounts: list[tuple[int, str, str]], now: datetime) -> int:
    """Queue (account id, platform, sealed credentials) for revocation, for the platforms
    that can revoke; does not commit. Returns how many were queued."""
    rows = [
        TokenRevocation(
            platform=platform,
            account_id=account_id,
            credentials=sealed,
            queued_at=now,
            next_attempt_at=now,
            attempts=0,
            last_error="",
        )
        for account_id, platform, sealed in accounts
        if platform in REVOCABLE and sealed
    ]
    session.add_all(rows)
    return len(rows)


def pending(session: Session) -> list[TokenRevocation]:
    """Every revocation not done yet (for the CLI, tests and the operator)."""
    return list(session.scalars(select(TokenRevocation).order_by(TokenRevocation.id)))


def _claim(session: Session, row: TokenRevocation, now: datetime) -> bool:
    """Take the row for one attempt: a compare-and-swap on ``next_attempt_at``, so the web
    process and the daemon never both try it at once."""
    claimed = session.execute(
        update(TokenRevocation)
        .where(
            TokenRevocation.id == row.id,
            TokenRevocation.next_attempt_at == row.next_attempt_at,
        )
        .values(next_attempt_at=now + LEASE, attempts=TokenRevocation.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    return bool(claimed == 1)


def revoke_due(
    sessions: sessionmaker[Session],
    vault: Vault,
    revokers: Mapping[str, Revoker],
    now: datetime,
    *,
    account_ids: list[int] | None = None,
    limit: int = BATCH,
) -> RevocationReport:
    """Try the revocations that are due. With ``account_ids`` (the withdraw page's attempt
    right after withdrawing), those accounts' rows that are due or were never tried,
    whatever the clock says."""
    report = RevocationReport()
    with sessions() as session:
        query = select(TokenRevocation).order_by(TokenRevocation.next_attempt_at).limit(limit)
        if account_ids is not None:
            query = query.where(
                TokenRevocation.account_id.in_(account_ids),
                or_(TokenRevocation.attempts == 0, TokenRevocation.next_attempt_at <= now),
            )
        else:
            query = query.where(TokenRevocation.next_attempt_at <= now)
        rows = list(session.scalars(query))
        session.expunge_all()
    for row in rows:
        with sessions() as session:
            if not _claim(session, row, now):
                continue
        report.count(_attempt(sessions, vault, revokers, row, now))
    if rows:
        logger.info(
            "token revocations: %s revoked, %s to try again, %s given up",
            report.revoked,
            report.retry,
            report.gave_up,
        )
    return report


def _attempt(
    sessions: sessionmaker[Session],
    vault: Vault,
    revokers: Mapping[str, Revoker],
    row: TokenRevocation,
    now: datetime,
) -> Outcome:
    revoker = revokers.get(row.platform)
    attempts = row.attempts + 1
    creds: Credentials | None = None
    try:
        if revoker is None:
            raise PermanentError(f"Clarion cannot revoke {row.platform} tokens")
        creds = vault.open(row.credentials)
        revoker(creds)
    except VaultError:
        return _give_up(sessions, row, "its sealed token cannot be opened (key rotated away?)")
    except (AuthError, PermanentError) as exc:
        return _give_up(sessions, row, exc.message)
    except PlatformError as exc:
        return _back_off(sessions, row, now, attempts, exc.message)
    except Exception as exc:
        # A revoker's own fault (an SDK's argument check, stored credentials missing a
        # field): this row waits as if the network had not answered, and is given up on
        # in time; the rest of the batch goes on.
        why = f"unexpected {type(exc).__name__}: {_redacted(str(exc), creds)}"
        return _back_off(sessions, row, now, attempts, why)
    _done(sessions, row)
    logger.info(
        "token revocation: revoked the %s token of account %s", row.platform, row.account_id
    )
    return Outcome.REVOKED


def _back_off(
    sessions: sessionmaker[Session], row: TokenRevocation, now: datetime, attempts: int, why: str
) -> Outcome:
    if now - row.queued_at >= GIVE_UP_AFTER:
        return _give_up(sessions, row, f"no success for {GIVE_UP_AFTER.days} days: {why}")
    wait = BACKOFF[min(attempts, len(BACKOFF)) - 1]
    with sessions() as session:
        session.execute(
            update(TokenRevocation)
            .where(TokenRevocation.id == row.id)
            .values(next_attempt_at=now + wait, last_error=why[:300])
        )
        session.commit()
    logger.warning(
        "token revocation: the %s token of account %s could not be revoked yet "
        "(attempt %s: %s); trying again in %s",
        row.platform,
        row.account_id,
        attempts,
        why,
        wait,
    )
    return Outcome.RETRY


def _redacted(text: str, creds: Credentials | None) -> str:
    """``text`` without any secret of ``creds`` (an exception's message may quote them);
    a Bluesky session's token is JSON holding its own tokens and key."""
    if creds is None:
        return text[:200]
    secrets = {creds.token, creds.secret}
    try:
        inner = json.loads(creds.token)
    except ValueError:
        inner = None
    if isinstance(inner, dict):
        secrets.update(str(v) for v in inner.values() if isinstance(v, str))
        jwk = inner.get("dpop_private_jwk")
        if isinstance(jwk, dict):
            secrets.update(str(v) for v in jwk.values() if isinstance(v, str))
    for secret in sorted((s for s in secrets if len(s) >= 8), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text[:200]


def _done(sessions: sessionmaker[Session], row: TokenRevocation) -> None:
    with sessions() as session:
        session.execute(delete(TokenRevocation).where(TokenRevocation.id == row.id))
        session.commit()


def _give_up(sessions: sessionmaker[Session], row: TokenRevocation, why: str) -> Outcome:
    _done(sessions, row)
    logger.error(
        "token revocation: gave up revoking the %s token of account %s: %s. Clarion has "
        "deleted it and will not use it, but the network may keep the session until it "
        "expires; the supporter can end it in their %s settings (apps and sessions)",
        row.platform,
        row.account_id,
        why,
        row.platform.capitalize(),
    )
    return Outcome.GAVE_UP


# -- the revokers ----------------------------------------------------------------------


def bluesky_revoker(client: OAuthClient) -> Revoker:
    from bot.platforms.bluesky import oauth

    def revoke(creds: Credentials) -> None:
        client.revoke(oauth.creds_of(creds))

    return revoke


def mastodon_revoker(
    sessions: sessionmaker[Session], vault: Vault, platform: MastodonPlatform
) -> Revoker:
    def revoke(creds: Credentials) -> None:
        from bot.platforms.mastodon import instance_url

        server = instance_url(creds.server)
        with sessions() as session:
            apps = [
                (app.client_id, vault.open_text(app.client_secret))
                for app in session.scalars(
                    select(MastodonApp)
                    .where(MastodonApp.server == server)
                    .order_by(MastodonApp.id.desc())
                )
            ]
        for client_id, client_secret in apps:
            try:
                platform.revoke(creds, client_id, client_secret)
                return
            except AuthError:
                # Issued to another of Clarion's apps on this server (Mastodon answers
                # 200 for a token it no longer knows, so a refusal is about the app).
                continue
        raise PermanentError(f"none of Clarion's apps on {server} may revoke this token")

    return revoke


def revokers_for(runtime: Runtime, bluesky: OAuthClient) -> dict[str, Revoker]:
    """The revokers of every network that has them, as the runtime's settings make them
    (the same OAuth client that signed the supporters in, the same Mastodon adapter)."""
    from bot.platforms.mastodon import MastodonPlatform

    mastodon = runtime.platform("mastodon")
    assert isinstance(mastodon, MastodonPlatform)
    return {
        "bluesky": bluesky_revoker(bluesky),
        "mastodon": mastodon_revoker(runtime.sessions, runtime.vault, mastodon),
    }
