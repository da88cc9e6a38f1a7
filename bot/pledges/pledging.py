"""Supporters pledging and editing: the pledge logic the web app calls.

The supporter's tokens are sealed by the vault on a supporter Account; their email, when
left, is sealed the same way. The cut-off lives in ``cutoff``, the counts in ``progress``,
the private withdraw link in ``withdrawal``; their names are re-exported here, so
``pledging`` stays the one module the web app and the release import.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.campaigns import text_rules
from bot.campaigns.schedules.fields import X_MAX_CHARS_TO_COUNT
from bot.email_address import EmailAddressError, one_address
from bot.platforms import PLATFORM_LABELS
from bot.platforms.base import AccountInfo, Credentials
from bot.pledges import texts
from bot.pledges.cutoff import (
    LIVE,
    PREPARE,
    PledgeError,
    closes_at,
    find_campaign,
    hold_open,
    is_open,
    open_for_pledges,
)
from bot.pledges.progress import Progress, preview, progress
from bot.pledges.withdrawal import (
    forget_supporters,
    key_hash,
    pledge_by_secret,
    still_connected,
    withdraw,
)
from bot.storage.models import (
    Account,
    AccountStatus,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
)
from bot.storage.vault import Vault

__all__ = [
    "LIVE",
    "PREPARE",
    "PledgeError",
    "PledgeReceipt",
    "Progress",
    "add_pledge",
    "closes_at",
    "edit_pledge",
    "find_campaign",
    "forget_supporters",
    "is_open",
    "key_hash",
    "open_email",
    "pledge_by_secret",
    "preview",
    "progress",
    "seal_email",
    "still_connected",
    "withdraw",
]

logger = logging.getLogger(__name__)

# Far beyond X's 280 weighted characters even with long links (each counts 23): the same
# cap as schedule files' texts.
X_MAX_WORDING_CHARS = X_MAX_CHARS_TO_COUNT
# C0 control characters other than tab and newline: PostgreSQL refuses NUL in text, and no
# platform post or email address needs the others.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class PledgeReceipt:
    pledge_id: int
    platform: str
    handle: str
    text: str  # exactly what will be posted (on X with the link in it)
    release_at: datetime
    timezone: str
    withdraw_secret: str  # only returned, never stored
    link: str | None = None  # on Facebook the link is attached to the post, not in the text


def seal_email(vault: Vault, email: str) -> str:
    # The vault seals Credentials; an email rides in the token field, encrypted alike.
    return vault.seal(Credentials(token=email))


def open_email(vault: Vault, sealed: str | None) -> str | None:
    return vault.open(sealed).token if sealed else None


def _refuse_controls(value: str, what: str) -> None:
    if _CONTROL.search(value):
        raise PledgeError(f"{what} contains control characters; remove them and try again")


def _clean_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    _refuse_controls(email, "that email address")
    try:
        return one_address(email)
    except EmailAddressError as exc:
        raise PledgeError(
            f"that email address does not look right: {exc}; check it or leave it empty"
        ) from None


def _clean_wording(
    pc: PledgeCampaign,
    platform: str,
    variant: int | None,
    wording: str | None,
    max_length: int | None = None,
) -> str | None:
    if wording is None or not wording.strip():
        return None
    wording = wording.strip()
    _refuse_controls(wording, "your wording")
    # Only the text this pledge would post anyway means "no edit": a supporter given a
    # variant who types the campaign's main message wants the main message posted.
    if wording == texts.base_text(pc, platform, variant, None):
        return None
    if not pc.allow_edit:
        raise PledgeError("this campaign's organisers asked supporters not to change the wording")
    if platform == "x" and len(wording) > X_MAX_WORDING_CHARS:
        # Counting X's weighted length (twitter-text) slows down sharply on long texts
        # with a link: refuse the obviously too long before counting.
        raise PledgeError(
            f"your wording is {len(wording):,} characters; X allows 280 (links count as 23)"
        )
    problem = texts.refusal(
        platform, wording, texts.tagged_link(pc, platform), max_length=max_length
    )
    if problem:
        where = PLATFORM_LABELS.get(platform, platform)
        raise PledgeError(f"your wording {problem} (with the campaign link, on {where})")
    return wording


def _receipt(pc: PledgeCampaign, pledge: Pledge, handle: str, secret: str) -> PledgeReceipt:
    link = texts.tagged_link(pc, pledge.platform)
    text = texts.base_text(pc, pledge.platform, pledge.variant, pledge.wording)
    return PledgeReceipt(
        pledge_id=pledge.id,
        platform=pledge.platform,
        handle=handle,
        text=texts.as_posted(pledge.platform, text, link),
        release_at=pc.release_at,
        timezone=pc.timezone,
        withdraw_secret=secret,
        link=link if pledge.platform not in text_rules.LINK_IN_TEXT else None,
    )


def _upsert_supporter(
    session: Session,
    vault: Vault,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    max_length: int | None = None,
) -> Account:
    account = session.scalars(
        select(Account).where(
            Account.platform == platform,
            Account.owner_kind == "supporter",
            Account.platform_user_id == who.platform_user_id,
        )
    ).first()
    if account is None:
        account = Account(
            platform=platform, owner_kind="supporter", platform_user_id=who.platform_user_id
        )
        session.add(account)
    account.handle = who.handle
    account.name = who.name
    account.followers = who.followers
    account.is_default = False
    if max_length is not None:  # the server's own limit, read at sign-in (Mastodon)
        account.max_length = max_length
    # replace(): keeps what else the credentials carry (a Mastodon account's server).
    account.credentials = vault.seal(replace(creds, platform_user_id=who.platform_user_id))
    account.token_fingerprint = vault.fingerprint(creds.token)
    account.source = "pledge"
    account.status = AccountStatus.ACTIVE
    account.status_reason = ""
    return account


def add_pledge(
    session: Session,
    vault: Vault,
    pc: PledgeCampaign,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    *,
    wording: str | None = None,
    email: str | None = None,
    now: datetime,
    max_length: int | None = None,
) -> PledgeReceipt:
    """Pledge the account ``who`` (just authorised with ``creds``) to ``pc``; commits.

    Pledging the same account again (say, the withdraw link was lost) refreshes its token
    and issues a new withdraw link; the old link stops working.
    """
    open_for_pledges(pc, now)
    if platform not in pc.message:
        raise PledgeError(f"this campaign does not post to {platform}")
    email = _clean_email(email)
    if wording is not None and wording.strip():
        _refuse_controls(wording, "your wording")
    hold_open(session, pc.id, now)
    session.refresh(pc)  # the campaign as it is now, inside this transaction
    account = _upsert_supporter(session, vault, platform, creds, who, max_length)
    session.flush()
    pledge = session.scalars(
        select(Pledge).where(Pledge.pledge_campaign_id == pc.id, Pledge.account_id == account.id)
    ).first()
    if pledge is None:
        before = session.scalar(
            select(func.count()).where(
                Pledge.pledge_campaign_id == pc.id, Pledge.platform == platform
            )
        )
        pledge = Pledge(
            pledge_campaign_id=pc.id,
            account_id=account.id,
            platform=platform,
            variant=texts.choose_variant(pc, platform, int(before or 0)),
            created_at=now,
        )
        session.add(pledge)
    secret = secrets.token_urlsafe(32)
    pledge.withdraw_key_hash = key_hash(secret)
    # None keeps what a re-pledging supporter chose before; an empty string clears it.
    try:
        if wording is not None:
            pledge.wording = _clean_wording(
                pc, platform, pledge.variant, wording, account.max_length
            )
    except PledgeError:
        session.rollback()
        raise
    if email is not None:
        pledge.email = seal_email(vault, email) if email else None
    pledge.followers = who.followers
    pledge.state = PledgeState.ACTIVE
    pledge.state_reason = ""
    pledge.withdrawn_at = None
    # The token was checked just now by the sign-in (verify_credentials / me).
    pledge.verified_at = now
    _revive_other_pledges(session, account.id, pledge.id, now)
    session.commit()
    logger.info(
        "pledge %s: %s @%s pledged to %s", pledge.id, platform, who.handle, pc.campaign.slug
    )
    return _receipt(pc, pledge, account.handle, secret)


def _revive_other_pledges(session: Session, account_id: int, pledge_id: int, now: datetime) -> None:
    """A broken token is the account's, not one pledge's: once the supporter signs in
    again (from any campaign's page, say from one reconnect email of several), their
    other needs-reconnect pledges to campaigns still open have a working token again and
    would otherwise be left out of those releases. Does not commit."""
    session.execute(
        update(Pledge)
        .where(
            Pledge.account_id == account_id,
            Pledge.id != pledge_id,
            Pledge.state == PledgeState.NEEDS_RECONNECT,
            Pledge.pledge_campaign_id.in_(
                select(PledgeCampaign.id).where(
                    PledgeCampaign.state.in_(PledgeCampaignState.TAKING_PLEDGES)
                )
            ),
        )
        .values(state=PledgeState.ACTIVE, state_reason="", verified_at=now)
        .execution_options(synchronize_session=False)
    )


def edit_pledge(
    session: Session,
    vault: Vault,
    secret: str,
    *,
    wording: str | None,
    email: str | None,
    now: datetime,
) -> PledgeReceipt:
    """Change a pledge's wording and/or email; commits.

    None leaves a field as it is; an empty string clears it (the wording goes back to the
    campaign's text, the email is deleted). Refused once the release has started.
    """
    pledge = pledge_by_secret(session, secret)
    if pledge is None or pledge.state == PledgeState.WITHDRAWN:
        raise PledgeError("this link does not match a pledge; it may have been withdrawn")
    pc = pledge.pledge_campaign
    open_for_pledges(pc, now)
    cleaned = _clean_email(email) if email is not None else None
    hold_open(session, pc.id, now)
    session.refresh(pc)
    if wording is not None:
        try:
            limit = pledge.account.max_length if pledge.account is not None else None
            pledge.wording = _clean_wording(pc, pledge.platform, pledge.variant, wording, limit)
        except PledgeError:
            session.rollback()
            raise
    if email is not None:
        pledge.email = seal_email(vault, cleaned) if cleaned else None
    session.commit()
    handle = pledge.account.handle if pledge.account is not None else ""
    return _receipt(pc, pledge, handle, secret)
