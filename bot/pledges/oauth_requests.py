"""Sign-ins in progress (OAuth requests), kept server-side in OAuthRequest rows.

X's request-token secret (and, for Facebook, the Pages offered to the supporter) is
sealed by the vault; the browser only ever holds the row's key. Each row can be used
once: ``claim`` sets ``used_at`` with a conditional UPDATE and checks the row count, so
a replayed callback (or two racing ones) finds nothing to claim. The pledge pages
(bot/web/pledge_x.py, pledge_facebook.py) start and finish sign-ins; the daemon's
readiness job (bot/pledges/jobs.py) deletes the expired ones.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.platforms.base import Credentials
from bot.storage.models import OAuthRequest
from bot.storage.vault import Vault

logger = logging.getLogger(__name__)

MAX_AGE = timedelta(hours=1)  # X's request tokens and Facebook's codes are short-lived too


def remember(
    session: Session,
    vault: Vault,
    *,
    provider: str,
    key: str,
    secret: str,
    pledge_campaign_id: int | None,
    now: datetime,
) -> None:
    """Store a sign-in in progress (``secret`` sealed); drops rows older than MAX_AGE.

    ``pledge_campaign_id`` is None for the console's sign-ins of the campaign's own
    accounts: a pledge's callback can never claim one, nor the console a pledge's."""
    forget_expired(session, now, commit=False)
    session.add(
        OAuthRequest(
            provider=provider,
            key=key,
            secret=vault.seal(Credentials(token=key, secret=secret)) if secret else "",
            pledge_campaign_id=pledge_campaign_id,
            created_at=now,
        )
    )
    session.commit()


def forget_expired(session: Session, now: datetime, *, commit: bool = True) -> int:
    """Delete sign-ins older than MAX_AGE: a Facebook sign-in left at the Page picker holds
    its Pages' tokens (sealed), which must not stay stored. Called at every new sign-in
    and by the daemon's readiness job, so they go even if nobody signs in again."""
    gone = session.execute(
        delete(OAuthRequest).where(OAuthRequest.created_at < now - MAX_AGE)
    ).rowcount  # type: ignore[attr-defined]
    if commit:
        session.commit()
    return int(gone or 0)


def _live(
    provider: str, key: str, pledge_campaign_id: int | None, now: datetime
) -> tuple[Any, ...]:
    """This campaign's (or the console's) sign-in ``key``, not used yet and not expired."""
    whose = (
        OAuthRequest.pledge_campaign_id.is_(None)
        if pledge_campaign_id is None
        else OAuthRequest.pledge_campaign_id == pledge_campaign_id
    )
    return (
        OAuthRequest.provider == provider,
        OAuthRequest.key == key,
        whose,
        OAuthRequest.used_at.is_(None),
        OAuthRequest.created_at >= now - MAX_AGE,
    )


def claim(
    session: Session,
    vault: Vault,
    *,
    provider: str,
    key: str,
    pledge_campaign_id: int | None,
    now: datetime,
) -> str | None:
    """Mark the sign-in ``key`` used and return its secret ("" when it had none).

    None when there is no such sign-in for this campaign, it was used already, or it is
    older than MAX_AGE.
    """
    if not key or len(key) > 200:
        return None
    done = session.execute(
        update(OAuthRequest)
        .where(*_live(provider, key, pledge_campaign_id, now))
        .values(used_at=now)
    ).rowcount  # type: ignore[attr-defined]
    session.commit()
    if done != 1:
        logger.info("%s sign-in callback refused: unknown, used or expired", provider)
        return None
    where = (OAuthRequest.provider == provider, OAuthRequest.key == key)
    sealed = session.scalar(select(OAuthRequest.secret).where(*where))
    # Read once, then gone: a Page token offered but not picked (or picked and later
    # withdrawn) must not stay stored. The row itself stays until MAX_AGE so a replay
    # still finds it used.
    if sealed:
        session.execute(update(OAuthRequest).where(*where).values(secret=""))
        session.commit()
    return vault.open(sealed).secret if sealed else ""


def peek(
    session: Session,
    vault: Vault,
    *,
    provider: str,
    key: str,
    pledge_campaign_id: int | None,
    now: datetime,
) -> str | None:
    """The secret of an unused, unexpired sign-in, without using it up."""
    if not key or len(key) > 200:
        return None
    sealed = session.scalar(
        select(OAuthRequest.secret).where(*_live(provider, key, pledge_campaign_id, now))
    )
    if sealed is None:
        return None
    return vault.open(sealed).secret if sealed else ""
