"""Readiness: some hours before the release (READINESS_HOURS), check every pledged token.

A pledge counts as ready when its token was verified inside that window (a pledge made
inside it was verified by the sign-in itself). A token the platform rejects marks the
pledge needs-reconnect and, where the supporter left an email, sends them the campaign
page link to pledge again. Transient failures are left for the next run; nothing is
marked broken on a platform hiccup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, AuthError, Credentials, Platform, PlatformError
from bot.pledges.mail import Mailer, MailError, reconnect_message
from bot.pledges.pledging import open_email
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


@dataclass
class ReadinessReport:
    checked: int = 0
    ready: int = 0
    broken: int = 0
    emailed: int = 0
    postponed: int = 0  # transient failures: checked again at the next run


@dataclass(frozen=True)
class _Check:
    pledge_id: int
    account_id: int
    platform: str
    sealed: str
    slug: str
    title: str
    handle: str


def due_checks(session: Session, now: datetime, hours: float) -> list[_Check]:
    """Active pledges of open campaigns inside the readiness window, not verified in it."""
    window = timedelta(hours=hours)
    rows = session.execute(
        select(Pledge, PledgeCampaign, Account)
        .join(PledgeCampaign, Pledge.pledge_campaign_id == PledgeCampaign.id)
        .join(Account, Pledge.account_id == Account.id)
        .where(
            PledgeCampaign.state == PledgeCampaignState.OPEN,
            PledgeCampaign.release_at > now,
            Pledge.state == PledgeState.ACTIVE,
        )
    ).all()
    due = []
    for pledge, pc, account in rows:
        opens = pc.release_at - window
        if now < opens:
            continue
        if pledge.verified_at is not None and pledge.verified_at >= opens:
            continue
        due.append(
            _Check(
                pledge.id,
                account.id,
                pledge.platform,
                account.credentials,
                pc.campaign.slug,
                pc.campaign.title,
                account.handle,
            )
        )
    return due


def check_readiness(
    sessions: sessionmaker[Session],
    vault: Vault,
    platforms: Mapping[str, Platform],
    *,
    now: datetime,
    hours: float,
    base_url: str,
    mailer: Mailer | None = None,
    concurrency: int = 8,
    fresh: Mapping[str, Callable[[int], Credentials]] | None = None,
) -> ReadinessReport:
    """Verify every pledge due a check; the daemon runs this every minute.

    ``fresh`` gives, by platform, the account's credentials made usable first (by
    account id): Bluesky's OAuth sessions are refreshed and stored before the check, as
    their access tokens last minutes (bot/pledges/oauth_sessions.py)."""
    with sessions() as session:
        checks = due_checks(session, now, hours)
    report = ReadinessReport()
    if not checks:
        return report

    def verify(check: _Check) -> AccountInfo | PlatformError:
        try:
            opener = (fresh or {}).get(check.platform)
            creds = opener(check.account_id) if opener else vault.open(check.sealed)
            return platforms[check.platform].verify(creds)
        except VaultError as exc:
            return AuthError(str(exc))
        except PlatformError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(verify, checks))
    for check, result in zip(checks, results, strict=True):
        report.checked += 1
        if isinstance(result, AccountInfo):
            _ready(sessions, check, result, now)
            report.ready += 1
        elif isinstance(result, AuthError):
            if _broken(sessions, check, result.message):
                report.broken += 1
                if mailer is not None and _email(sessions, vault, mailer, check, base_url):
                    report.emailed += 1
        else:
            report.postponed += 1
            logger.info(
                "readiness: could not check pledge %s yet (%s)", check.pledge_id, result.message
            )
    logger.info(
        "readiness: %s pledged tokens checked, %s ready, %s need reconnecting (%s emailed), "
        "%s to check again",
        report.checked,
        report.ready,
        report.broken,
        report.emailed,
        report.postponed,
    )
    return report


def _ready(sessions: sessionmaker[Session], check: _Check, who: AccountInfo, now: datetime) -> None:
    with sessions() as session:
        values: dict[str, object] = {"verified_at": now}
        if who.followers is not None:
            values["followers"] = who.followers
        session.execute(
            update(Pledge)
            .where(Pledge.id == check.pledge_id, Pledge.state == PledgeState.ACTIVE)
            .values(**values)
        )
        if who.followers is not None:
            session.execute(
                update(Account)
                .where(Account.id == check.account_id)
                .values(followers=who.followers)
            )
        session.commit()


def _broken(sessions: sessionmaker[Session], check: _Check, message: str) -> bool:
    """active → needs_reconnect; True only for the call that made the change, so a
    supporter is emailed once."""
    reason = f"the readiness check failed: {message}"
    # Only if the account still holds the token we checked: a supporter who reconnected
    # while the check was in flight has a new (sealed anew, so different) credential,
    # and their fresh pledge must not be marked broken by the old token's failure.
    same_token = exists().where(Account.id == check.account_id, Account.credentials == check.sealed)
    with sessions() as session:
        changed = session.execute(
            update(Pledge)
            .where(Pledge.id == check.pledge_id, Pledge.state == PledgeState.ACTIVE, same_token)
            .values(state=PledgeState.NEEDS_RECONNECT, state_reason=reason)
        ).rowcount  # type: ignore[attr-defined]
        session.execute(
            update(Account)
            .where(
                Account.id == check.account_id,
                Account.status == AccountStatus.ACTIVE,
                Account.credentials == check.sealed,
            )
            .values(status=AccountStatus.NEEDS_RECONNECT, status_reason=reason)
        )
        session.commit()
    if changed == 1:
        logger.warning(
            "readiness: pledge %s (%s @%s) needs reconnecting: %s",
            check.pledge_id,
            check.platform,
            check.handle,
            message,
        )
    return bool(changed == 1)


def _email(
    sessions: sessionmaker[Session], vault: Vault, mailer: Mailer, check: _Check, base_url: str
) -> bool:
    with sessions() as session:
        sealed = session.scalar(select(Pledge.email).where(Pledge.id == check.pledge_id))
    address = open_email(vault, sealed)
    if not address or not mailer.enabled:
        return False
    link = f"{base_url.rstrip('/')}/c/{check.slug}"
    subject, body = reconnect_message(check.title, check.handle, check.platform, link)
    try:
        mailer.send(address, subject, body)
    except MailError as exc:
        # exc.summary: the error's kind and SMTP code only; the server's reply can quote
        # the supporter's address, which must not reach the logs.
        logger.warning(
            "readiness: reconnect email for pledge %s not sent: %s", check.pledge_id, exc.summary
        )
        return False
    logger.info("readiness: reconnect email sent for pledge %s", check.pledge_id)
    return True
