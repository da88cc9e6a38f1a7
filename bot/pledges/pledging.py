"""Supporters pledging, editing and withdrawing: the pledge logic the web app calls.

The supporter's tokens are sealed by the vault on a supporter Account; their email, when
left, is sealed the same way. The private withdraw link carries a secret that is returned
once and never stored: the database keeps only its SHA-256, so a stolen database cannot
withdraw anyone's pledge.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Exists

from bot.db.models import (
    Account,
    AccountStatus,
    Campaign,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
)
from bot.platforms.base import AccountInfo, Credentials
from bot.pledges import texts
from bot.schedule_fields import X_MAX_CHARS_TO_COUNT
from bot.vault import Vault

logger = logging.getLogger(__name__)

# The release is written this long before its time (pledges close then), so the daemon
# has every delivery planned when the moment comes instead of discovering them after it.
PREPARE = timedelta(seconds=10)
# Pledges that still count: a needs-reconnect pledge is still the supporter's intent.
LIVE = (PledgeState.ACTIVE, PledgeState.NEEDS_RECONNECT)
# Far beyond X's 280 weighted characters even with long links (each counts 23): the same
# cap as schedule files' texts.
X_MAX_WORDING_CHARS = X_MAX_CHARS_TO_COUNT
# Campaigns whose release is over: their supporters' tokens and emails are no longer needed.
FINISHED = (PledgeCampaignState.RELEASED, PledgeCampaignState.GOAL_MISSED)
# C0 control characters other than tab and newline: PostgreSQL refuses NUL in text, and no
# platform post or email address needs the others.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# RFC 5321 caps a path at 256 octets, so an address is at most 254 characters.
_EMAIL = re.compile(r"^[^@\s<>\"']{1,64}@[^@\s<>\"']+\.[^@\s<>\"']+$")


class PledgeError(Exception):
    """A pledge was refused; the message is safe to show a supporter."""


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


@dataclass(frozen=True)
class Progress:
    pledged: int
    goal: int
    pledged_reach: int
    ready_reach: int
    release_at: datetime
    seconds_left: float
    state: str
    by_platform: dict[str, int]


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def seal_email(vault: Vault, email: str) -> str:
    # The vault seals Credentials; an email rides in the token field, encrypted alike.
    return vault.seal(Credentials(token=email))


def open_email(vault: Vault, sealed: str | None) -> str | None:
    return vault.open(sealed).token if sealed else None


def find_campaign(session: Session, slug: str) -> PledgeCampaign | None:
    return session.scalars(
        select(PledgeCampaign).join(Campaign).where(Campaign.slug == slug)
    ).first()


def progress(
    session: Session, pc: PledgeCampaign, now: datetime, *, readiness_hours: float | None = None
) -> Progress:
    """Counts for the campaign page: live pledges and their reach (followers when pledged,
    or when last checked), and the ready reach: pledges whose token is not known to be
    broken. With ``readiness_hours`` (READINESS_HOURS), once the readiness window has
    opened only tokens verified inside it count as ready."""
    rows: list[tuple[str, int, int]] = [
        (str(platform), int(count), int(reach or 0))
        for platform, count, reach in session.execute(
            select(Pledge.platform, func.count(), func.sum(Pledge.followers))
            .where(Pledge.pledge_campaign_id == pc.id, Pledge.state.in_(LIVE))
            .group_by(Pledge.platform)
        ).all()
    ]
    ready = session.scalar(
        select(func.coalesce(func.sum(Pledge.followers), 0)).where(
            Pledge.pledge_campaign_id == pc.id,
            Pledge.state == PledgeState.ACTIVE,
            Pledge.verified_at.is_not(None),
            Pledge.verified_at >= _ready_since(pc, now, readiness_hours),
        )
    )
    by_platform = {platform: count for platform, count, _ in rows}
    return Progress(
        pledged=sum(by_platform.values()),
        goal=pc.goal,
        pledged_reach=sum(reach for _, _, reach in rows),
        ready_reach=int(ready or 0),
        release_at=pc.release_at,
        seconds_left=max(0.0, (pc.release_at - now).total_seconds()),
        state=pc.state,
        by_platform=by_platform,
    )


def _ready_since(pc: PledgeCampaign, now: datetime, hours: float | None) -> datetime:
    opens = pc.release_at - timedelta(hours=hours) if hours is not None else None
    if opens is None or now < opens:
        return datetime.min.replace(tzinfo=UTC)
    return opens


def preview(pc: PledgeCampaign, platform: str) -> str:
    """The campaign's default text on ``platform`` as it would appear there."""
    if platform not in pc.message:
        raise PledgeError(f"this campaign does not post to {platform}")
    return texts.as_posted(platform, pc.message[platform], texts.tagged_link(pc, platform))


def closes_at(pc: PledgeCampaign) -> datetime:
    """When pledging (and withdrawing, and editing) stops: the release is written then."""
    return pc.release_at - PREPARE


def is_open(pc: PledgeCampaign, now: datetime) -> bool:
    """The one cut-off every page and handler uses."""
    return pc.state == PledgeCampaignState.OPEN and now < closes_at(pc)


_CLOSED = "this campaign is no longer taking pledges: its release has started"


def _open_for_pledges(pc: PledgeCampaign, now: datetime) -> None:
    if not is_open(pc, now):
        raise PledgeError(_CLOSED)


def _hold_open(session: Session, pc_id: int, now: datetime) -> None:
    """Inside the pledge's own transaction: touch the campaign row only if it is still open
    and before its cut-off. The release claims the same row (open → releasing) with its
    own conditional UPDATE, so the two are serialised by the row lock (SQLite: the writer
    lock): either this pledge is committed before the release reads the pledges, or the
    release has won and the pledge is refused. A check on a campaign read earlier (before
    the sign-in's network calls) cannot give that guarantee."""
    won = session.execute(
        update(PledgeCampaign)
        .where(
            PledgeCampaign.id == pc_id,
            PledgeCampaign.state == PledgeCampaignState.OPEN,
            PledgeCampaign.release_at > now + PREPARE,
        )
        .values(updated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        session.rollback()
        raise PledgeError(_CLOSED)


def _refuse_controls(value: str, what: str) -> None:
    if _CONTROL.search(value):
        raise PledgeError(f"{what} contains control characters; remove them and try again")


def _clean_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    email = email.strip()
    _refuse_controls(email, "that email address")
    if len(email) > 254 or not _EMAIL.match(email):
        raise PledgeError("that email address does not look right; check it or leave it empty")
    return email


def _clean_wording(
    pc: PledgeCampaign, platform: str, variant: int | None, wording: str | None
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
    problem = texts.refusal(platform, wording, texts.tagged_link(pc, platform))
    if problem:
        where = "X" if platform == "x" else "Facebook"
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
        link=link if pledge.platform != "x" else None,
    )


def _upsert_supporter(
    session: Session, vault: Vault, platform: str, creds: Credentials, who: AccountInfo
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
    account.credentials = vault.seal(Credentials(creds.token, creds.secret, who.platform_user_id))
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
) -> PledgeReceipt:
    """Pledge the account ``who`` (just authorised with ``creds``) to ``pc``; commits.

    Pledging the same account again (say, the withdraw link was lost) refreshes its token
    and issues a new withdraw link; the old link stops working.
    """
    _open_for_pledges(pc, now)
    if platform not in pc.message:
        raise PledgeError(f"this campaign does not post to {platform}")
    email = _clean_email(email)
    if wording is not None and wording.strip():
        _refuse_controls(wording, "your wording")
    _hold_open(session, pc.id, now)
    session.refresh(pc)  # the campaign as it is now, inside this transaction
    account = _upsert_supporter(session, vault, platform, creds, who)
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
            pledge.wording = _clean_wording(pc, platform, pledge.variant, wording)
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
                select(PledgeCampaign.id).where(PledgeCampaign.state == PledgeCampaignState.OPEN)
            ),
        )
        .values(state=PledgeState.ACTIVE, state_reason="", verified_at=now)
        .execution_options(synchronize_session=False)
    )


def pledge_by_secret(session: Session, secret: str) -> Pledge | None:
    if not secret or len(secret) > 200:
        return None
    return session.scalars(
        select(Pledge).where(Pledge.withdraw_key_hash == key_hash(secret))
    ).first()


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
    _open_for_pledges(pc, now)
    cleaned = _clean_email(email) if email is not None else None
    _hold_open(session, pc.id, now)
    session.refresh(pc)
    if wording is not None:
        try:
            pledge.wording = _clean_wording(pc, pledge.platform, pledge.variant, wording)
        except PledgeError:
            session.rollback()
            raise
    if email is not None:
        pledge.email = seal_email(vault, cleaned) if cleaned else None
    session.commit()
    handle = pledge.account.handle if pledge.account is not None else ""
    return _receipt(pc, pledge, handle, secret)


def _still_needed(account_id: Any) -> Exists:
    """A live pledge of the account to a campaign that has not gone out yet."""
    return exists().where(
        Pledge.account_id == account_id,
        Pledge.state.in_(LIVE),
        Pledge.pledge_campaign_id.in_(
            select(PledgeCampaign.id).where(
                PledgeCampaign.state.in_((PledgeCampaignState.OPEN, PledgeCampaignState.RELEASING))
            )
        ),
    )


def _wipe_tokens(session: Session, account_ids: list[int], reason: str) -> int:
    """Delete the stored tokens of these supporter accounts unless a campaign that has not
    gone out yet still needs them. Does not commit."""
    if not account_ids:
        return 0
    wiped = session.execute(
        update(Account)
        .where(
            Account.id.in_(account_ids),
            Account.owner_kind == "supporter",
            Account.credentials != "",
            ~_still_needed(Account.id),
        )
        .values(
            credentials="",
            token_fingerprint="",
            status=AccountStatus.DISABLED,
            status_reason=reason,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(wiped or 0)


def forget_supporters(session: Session, pc_id: int) -> int:
    """Once a campaign has gone out (released) or will not (goal missed), its supporters'
    emails and, unless another open campaign needs them, their tokens are deleted: the
    page promised we keep them only for the release. Returns how many accounts' tokens
    were deleted; does not commit."""
    session.execute(
        update(Pledge)
        .where(Pledge.pledge_campaign_id == pc_id, Pledge.email.is_not(None))
        .values(email=None)
        .execution_options(synchronize_session=False)
    )
    account_ids = [
        a
        for a in session.scalars(
            select(Pledge.account_id).where(
                Pledge.pledge_campaign_id == pc_id, Pledge.account_id.is_not(None)
            )
        )
        if a is not None
    ]
    return _wipe_tokens(session, account_ids, "the pledge campaign is over; tokens deleted")


def withdraw(session: Session, secret: str, now: datetime) -> bool:
    """Withdraw the pledge and delete its stored tokens and email; commits.

    Returns False when there is nothing to withdraw (unknown link, already withdrawn) or
    the release has started. The UPDATE is conditional on the campaign still being open
    (or its goal missed: nothing will be posted, so withdrawing is always safe then), so a
    withdraw racing the release either happens before it or not at all.
    """
    pledge = pledge_by_secret(session, secret)
    if pledge is None or pledge.state == PledgeState.WITHDRAWN:
        return False
    pc = pledge.pledge_campaign
    missed = pc.state == PledgeCampaignState.GOAL_MISSED
    if not missed and not is_open(pc, now):
        return False
    # Lock the campaign row (PostgreSQL; SQLite's writer lock does the same) so a withdraw
    # and the release's claim on it are serialised: one of them sees the other's result.
    session.execute(select(PledgeCampaign.id).where(PledgeCampaign.id == pc.id).with_for_update())
    still_open = exists().where(
        PledgeCampaign.id == pledge.pledge_campaign_id,
        PledgeCampaign.state.in_((PledgeCampaignState.OPEN, PledgeCampaignState.GOAL_MISSED)),
    )
    done = session.execute(
        update(Pledge)
        .where(Pledge.id == pledge.id, Pledge.state.in_(LIVE), still_open)
        .values(state=PledgeState.WITHDRAWN, withdrawn_at=now, email=None, state_reason="")
    ).rowcount  # type: ignore[attr-defined]
    if done != 1:
        session.rollback()
        return False
    if pledge.account_id is not None:
        # The supporter account may be pledged to another campaign too: its token is
        # deleted only when no pledge to a campaign still to go out needs it (pledges of
        # released campaigns stay active as a record but need no token).
        _wipe_tokens(session, [pledge.account_id], "withdrawn by the supporter; tokens deleted")
    session.commit()
    session.expire_all()
    logger.info("pledge %s withdrawn; its tokens and email were deleted", pledge.id)
    return True
