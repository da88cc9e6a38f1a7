"""Keeping supporters' Bluesky OAuth sessions usable until their post goes out.

Bluesky's access tokens live minutes (its PDS issues them for about 15) and each
refresh token works once: refreshing spends it and returns a new one
(https://atproto.com/specs/oauth, "Tokens and Session Lifetime"). So a refresh must be
stored at once, and two workers must never spend the same refresh token, or the loser's
``invalid_grant`` would look like a revoked sign-in.

``fresh_credentials`` is the one place a pledged account's session is refreshed: one
refresher at a time per account in this process (a lock), and across processes a
compare-and-swap on the sealed credentials — the new ones are stored only if the row
still holds the ones refreshed; a refresh refused because another process got there
first finds that process's credentials in the row and uses them.
``refresh_expiring`` runs it for every Bluesky pledge of a campaign releasing soon (or
now), so the release finds fresh tokens. The release's posts call ``fresh_credentials``
too, since a wide window outlasts an access token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.platforms.base import AuthError, Credentials
from bot.platforms.bluesky import oauth
from bot.platforms.http import session_for
from bot.runtime.wiring import Runtime, routes_for
from bot.settings import ConfigError
from bot.storage.models import (
    Account,
    AccountStatus,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
)
from bot.storage.vault import Vault, VaultError

logger = logging.getLogger(__name__)

PLATFORM = "bluesky"
# How far ahead of a release its pledges' sessions are refreshed: well inside an access
# token's life, so the tokens are fresh when the first post goes.
REFRESH_AHEAD = timedelta(minutes=10)

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def bluesky_client(runtime: Runtime) -> oauth.OAuthClient:
    """Clarion's Bluesky OAuth client as the settings make it (WEB_BASE_URL,
    BLUESKY_OAUTH_KEY), on its own pooled session routed like every platform call. The
    campaign pages sign supporters in with it; the daemon refreshes their sessions."""
    settings = runtime.settings
    try:
        key = oauth.parse_client_key(settings.bluesky_oauth_key.reveal())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    timeout = settings.http_timeout_seconds
    session = session_for(routes_for(settings), pool_size=16, timeout=timeout)
    return oauth.OAuthClient(
        oauth.client_config(settings.web_base_url, key), session, timeout=timeout
    )


def _lock_for(account_id: int) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(account_id, threading.Lock())


def _sealed(session: Session, account_id: int) -> str:
    found = session.scalar(select(Account.credentials).where(Account.id == account_id))
    if not found:
        raise AuthError("this Bluesky account has no stored sign-in: reconnect it")
    return found


def fresh_credentials(
    sessions: Callable[[], Session],
    vault: Vault,
    client: oauth.OAuthClient,
    account_id: int,
    *,
    now: float | None = None,
) -> Credentials:
    """The account's credentials, refreshed first if the access token is about to expire,
    the refresh stored before they are returned. Raises AuthError when the session is
    gone (revoked, expired: the supporter must sign in again) and TransientError when
    Bluesky cannot be reached. No database session is held across the refresh."""
    with _lock_for(account_id):
        with sessions() as session:
            before = _sealed(session, account_id)
        creds = oauth.creds_of(vault.open(before))
        if not oauth.needs_refresh(creds, now if now is not None else time.time()):
            return oauth.credentials_of(creds)
        try:
            renewed = client.refreshed(creds)
        except AuthError:
            with sessions() as session:
                current = _sealed(session, account_id)
            if current != before:  # another process refreshed it in the meantime
                logger.info("Bluesky account %s: refreshed elsewhere; using that", account_id)
                return oauth.credentials_of(oauth.creds_of(vault.open(current)))
            raise
        sealed = vault.seal(oauth.credentials_of(renewed))
        with sessions() as session:
            swapped = session.execute(
                update(Account)
                .where(Account.id == account_id, Account.credentials == before)
                .values(credentials=sealed)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
        if swapped != 1:
            # The row changed while we refreshed (a reconnect, a withdrawal): ours are
            # valid tokens, but what is stored wins; nothing we hold is written over it.
            logger.info("Bluesky account %s changed while refreshing; not stored", account_id)
        return oauth.credentials_of(renewed)


def account_holding(session: Session, vault: Vault, creds: Credentials) -> int | None:
    """The id of the Bluesky account row ``creds`` (an OAuth session) were sealed on: the
    row of that DID holding the same refresh token, else its one OAuth row (refreshed
    since ``creds`` were read). None when no row, or no single row, is theirs."""
    held = oauth.creds_of(creds)
    rows = session.execute(
        select(Account.id, Account.credentials).where(
            Account.platform == PLATFORM,
            Account.platform_user_id == str(held["did"]),
            Account.credentials != "",
        )
    ).all()
    candidates = []
    for account_id, sealed in rows:
        try:
            stored = oauth.creds_of(vault.open(sealed))
        except (AuthError, VaultError):
            continue  # an app-password row of the same DID, or one sealed with a lost key
        if stored.get("refresh_token") == held["refresh_token"]:
            return int(account_id)
        candidates.append(int(account_id))
    return candidates[0] if len(candidates) == 1 else None


def fresh_for(
    sessions: Callable[[], Session],
    vault: Vault,
    client: oauth.OAuthClient,
    creds: Credentials,
) -> Credentials:
    """``fresh_credentials`` for the row ``creds`` came from: what the delivery path calls
    before a post or a verify (``BlueskyPlatform(oauth_refresh=...)``). A job's sealed
    credentials may be older than the row's (another worker refreshed them): the row's
    are used then. Without a row to refresh through, ``creds`` go as they are and the PDS
    judges them."""
    with sessions() as session:
        account_id = account_holding(session, vault, creds)
    if account_id is None:
        logger.warning(
            "Bluesky OAuth session of %s: no stored row to refresh it through",
            creds.platform_user_id,
        )
        return creds
    return fresh_credentials(sessions, vault, client, account_id)


def expiring_accounts(session: Session, now: datetime, ahead: timedelta) -> list[int]:
    """Active Bluesky accounts pledged to a campaign going out now or within ``ahead``."""
    going = (
        select(Pledge.account_id)
        .join(PledgeCampaign, PledgeCampaign.id == Pledge.pledge_campaign_id)
        .where(
            Pledge.platform == PLATFORM,
            Pledge.state == PledgeState.ACTIVE,
            Pledge.account_id.is_not(None),
            (
                (PledgeCampaign.state == PledgeCampaignState.RELEASING)
                | (
                    PledgeCampaign.state.in_((PledgeCampaignState.OPEN, PledgeCampaignState.HELD))
                    & (PledgeCampaign.release_at <= now + ahead)
                )
            ),
        )
    )
    ids = session.scalars(
        select(Account.id).where(
            Account.id.in_(going),
            Account.status == AccountStatus.ACTIVE,
            Account.credentials != "",
        )
    ).all()
    return sorted(ids)


def refresh_expiring(
    sessions: Callable[[], Session],
    vault: Vault,
    client: oauth.OAuthClient,
    now: datetime,
    *,
    ahead: timedelta = REFRESH_AHEAD,
    concurrency: int = 8,
) -> tuple[int, int]:
    """Refresh (where due) the sessions of every Bluesky pledge going out soon; returns
    (accounts looked at, refused). A refused one is left for the release's own
    reconnect handling; an unreachable Bluesky is tried again on the next run."""
    with sessions() as session:
        ids = expiring_accounts(session, now, ahead)
    # Refreshed when less than ``ahead`` is left, not only the last two minutes: the
    # release must not start with tokens about to run out.
    horizon = time.time() + ahead.total_seconds() - oauth.REFRESH_MARGIN_SECONDS

    def one(account_id: int) -> bool:
        """Whether Bluesky refused this account's refresh."""
        try:
            fresh_credentials(sessions, vault, client, account_id, now=horizon)
        except AuthError as exc:
            logger.warning("Bluesky account %s: refresh refused: %s", account_id, exc.message)
            return True
        except Exception as exc:  # one account must not stop the others' refresh
            logger.warning(
                "Bluesky account %s: refresh failed (%s); next run tries again",
                account_id,
                type(exc).__name__,
            )
        return False

    # Thousands of pledges may go out together: refresh them side by side, as the
    # readiness check verifies tokens (each is one call to the authorization server).
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        refused = sum(pool.map(one, ids))
    return len(ids), refused
