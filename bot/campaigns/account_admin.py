"""Looking after the campaign's own accounts: connect, check, disconnect, each audited.

The console's Accounts page calls these; the token checks are the platform adapters'
own ``verify`` (X: GET /2/users/me, Facebook: GET /me with the Page token), the same
call the pledge readiness check makes. Tokens stay sealed; none is ever returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.campaigns.accounts import store_campaign_account
from bot.people import audit
from bot.platforms.base import AccountInfo, AuthError, Credentials, PlatformError
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, AccountStatus, Delivery, DeliveryState, utcnow
from bot.storage.vault import VaultError

logger = logging.getLogger(__name__)


class CheckOutcome(StrEnum):
    WORKS = "works"
    NEEDS_RECONNECT = "needs_reconnect"  # the platform refused the token
    NOT_ANSWERING = "not_answering"  # nothing learnt: the status is left as it was
    NOT_CONNECTED = "not_connected"  # disconnected: no token to check


@dataclass(frozen=True)
class CheckResult:
    account_id: int
    outcome: CheckOutcome
    message: str


class AccountProblem(Exception):
    """The request cannot be done as asked; the message says why and what to do."""


def campaign_accounts(session: Session) -> list[Account]:
    """The campaign's own accounts (not supporters'), by platform."""
    return list(
        session.scalars(
            select(Account)
            .where(Account.owner_kind == "campaign")
            .order_by(Account.platform, Account.is_default.desc(), Account.id)
        )
    )


def campaign_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.owner_kind != "campaign":
        raise AccountProblem(f"there is no campaign account {account_id}; see the accounts list")
    return account


def account_summary(account: Account) -> dict[str, object]:
    """What the audit log keeps of an account: never its token."""
    return {
        "platform": account.platform,
        "handle": account.handle,
        "platform_user_id": account.platform_user_id,
        "status": account.status,
        "default": account.is_default,
    }


def connect_account(
    session: Session,
    runtime: Runtime,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    *,
    actor: str,
    now: datetime,
    reconnecting: int | None = None,
    source: str = "console",
) -> Account:
    """Store a signed-in account (sealed) and audit it; the caller commits.

    The sign-in itself asked the platform whose the token is, so it counts as a check
    made ``now``.

    ``reconnecting``: the account the person meant to reconnect. Signing in as another
    account is refused rather than silently connecting a second one.
    """
    before = None
    if reconnecting is not None:
        old = campaign_account(session, reconnecting)
        if old.platform != platform or old.platform_user_id != who.platform_user_id:
            raise AccountProblem(
                f"you signed in as @{who.handle}, but this is @{old.handle}; sign in as "
                f"@{old.handle} to reconnect it, or use Connect to add @{who.handle}"
            )
        before = account_summary(old)
    else:
        existing = session.scalars(
            select(Account).where(
                Account.platform == platform,
                Account.owner_kind == "campaign",
                Account.platform_user_id == who.platform_user_id,
            )
        ).first()
        before = account_summary(existing) if existing is not None else None
    has_default = session.scalars(
        select(Account.id).where(
            Account.platform == platform,
            Account.owner_kind == "campaign",
            Account.is_default.is_(True),
            Account.status == AccountStatus.ACTIVE,
            Account.platform_user_id != who.platform_user_id,
        )
    ).first()
    # The first working account of a platform becomes where `to: [x]` posts; connecting a
    # second one does not move every post to it.
    account = store_campaign_account(
        session,
        runtime.vault,
        platform,
        creds,
        who,
        source=source,
        make_default=has_default is None,
    )
    account.last_checked_at = now
    audit.record(
        session,
        actor=actor,
        action="account.reconnect" if before is not None else "account.connect",
        subject=f"account:{account.id}",
        before=before,
        after=account_summary(account),
    )
    logger.info("%s connected %s account @%s", actor, platform, who.handle)
    return account


def waiting_deliveries(session: Session, account_id: int) -> int:
    """Deliveries to the account that have not started: what disconnecting cancels."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.account_id == account_id, Delivery.state == DeliveryState.PENDING)
        )
        or 0
    )


@dataclass(frozen=True)
class Disconnected:
    handle: str
    platform: str
    cancelled: int  # deliveries that were waiting for the account


def disconnect_account(session: Session, account_id: int, *, actor: str) -> Disconnected:
    """Forget the account's token; keep the account row (its deliveries point at it).

    A disconnected account is disabled: schedule files that post to it are refused at
    `apply` until it is connected again, and its deliveries still waiting are cancelled
    (without a token they could only fail). The caller commits.
    """
    account = campaign_account(session, account_id)
    before = account_summary(account)
    # Conditional: a delivery the daemon claimed a moment ago is no longer pending and
    # goes on with the token it already holds.
    cancelled = session.execute(
        update(Delivery)
        .where(Delivery.account_id == account_id, Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.CANCELLED, updated_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    account.credentials = ""
    account.token_fingerprint = ""
    account.status = AccountStatus.DISABLED
    account.status_reason = f"disconnected by {actor}"
    account.is_default = False
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="account.disconnect",
        subject=f"account:{account.id}",
        before=before,
        after={**account_summary(account), "cancelled_deliveries": int(cancelled or 0)},
    )
    logger.info(
        "%s disconnected %s account @%s (%s waiting deliveries cancelled)",
        actor,
        account.platform,
        account.handle,
        cancelled,
    )
    return Disconnected(account.handle, account.platform, int(cancelled or 0))


def check_account(runtime: Runtime, account_id: int, *, actor: str, now: datetime) -> CheckResult:
    """Ask the platform whose the token is; record the answer and audit it.

    A refused token marks the account needs-reconnect; a platform that does not answer
    changes nothing (it is not the token's fault). No database session is held across
    the platform call.
    """
    with runtime.sessions() as session:
        account = campaign_account(session, account_id)
        sealed, platform, handle = account.credentials, account.platform, account.handle
    if not sealed:
        return CheckResult(account_id, CheckOutcome.NOT_CONNECTED, "not connected: no token")
    try:
        who: AccountInfo | PlatformError = runtime.platform(platform).verify(
            runtime.vault.open(sealed)
        )
    except VaultError as exc:
        who = AuthError(f"the stored token cannot be opened ({exc})")
    except PlatformError as exc:
        who = exc
    if isinstance(who, PlatformError) and not isinstance(who, AuthError):
        logger.info("check of %s @%s: no answer (%s)", platform, handle, who.message)
        return CheckResult(account_id, CheckOutcome.NOT_ANSWERING, who.message)
    with runtime.sessions() as session:
        account = campaign_account(session, account_id)
        before = account_summary(account)
        if account.credentials != sealed:
            # Reconnected while the check was in flight: the answer is about the old token.
            return CheckResult(account_id, CheckOutcome.WORKS, "reconnected meanwhile")
        values: dict[str, object] = {"last_checked_at": now}
        if isinstance(who, AuthError):
            outcome, message = CheckOutcome.NEEDS_RECONNECT, who.message
            values.update(
                status=AccountStatus.NEEDS_RECONNECT,
                status_reason=f"the token was refused when checked: {who.message}",
            )
        else:
            outcome, message = CheckOutcome.WORKS, f"works: signed in as @{who.handle}"
            values.update(handle=who.handle, name=who.name, followers=who.followers)
            if account.status == AccountStatus.NEEDS_RECONNECT:
                values.update(status=AccountStatus.ACTIVE, status_reason="")
        session.execute(
            update(Account)
            .where(Account.id == account_id, Account.credentials == sealed)
            .values(**values)
        )
        session.refresh(account)
        audit.record(
            session,
            actor=actor,
            action="account.check",
            subject=f"account:{account_id}",
            before=before,
            after={**account_summary(account), "outcome": outcome.value},
        )
        session.commit()
    logger.info("check of %s @%s: %s", platform, handle, outcome.value)
    return CheckResult(account_id, outcome, message)
