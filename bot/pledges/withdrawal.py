"""The private withdraw link and what withdrawing deletes.

The link carries a secret that is returned once and never stored: the database keeps only
its SHA-256, so a stolen database cannot withdraw anyone's pledge. Withdrawing deletes the
supporter's email and, unless a campaign still to go out needs it, their token at once. A
campaign finishing deletes its supporters' emails, and the tokens of every supporter
whose post did not go out; a token whose post went out is left to ``kept_tokens``, which
keeps it (read-only) while that post's engagement is still read, then deletes it.
Wherever a Bluesky or Mastodon token is deleted, its revocation at the network is queued
in the same transaction (``revocations``): the withdrawal is done at once, the network
lets go as soon as it answers.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, Exists

from bot.pledges import revocations
from bot.pledges.cutoff import LIVE, is_open
from bot.storage.models import (
    Account,
    AccountStatus,
    Delivery,
    DeliveryState,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    PledgeState,
    utcnow,
)

logger = logging.getLogger(__name__)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def pledge_by_secret(session: Session, secret: str) -> Pledge | None:
    if not secret or len(secret) > 200:
        return None
    return session.scalars(
        select(Pledge).where(Pledge.withdraw_key_hash == key_hash(secret))
    ).first()


def still_needed(account_id: Any) -> Exists:
    """A live pledge of the account to a campaign that has not gone out yet."""
    return exists().where(
        Pledge.account_id == account_id,
        Pledge.state.in_(LIVE),
        Pledge.pledge_campaign_id.in_(
            select(PledgeCampaign.id).where(
                PledgeCampaign.state.in_(
                    (*PledgeCampaignState.TAKING_PLEDGES, *PledgeCampaignState.GOING_OUT)
                )
            )
        ),
    )


def post_went_out(account_id: Any, *also: ColumnElement[bool]) -> Exists:
    """A pledge of the account whose post went out and is still there (and meets ``also``):
    its engagement may still be read with the token (``kept_tokens`` decides how long)."""
    return exists().where(
        Pledge.account_id == account_id,
        Pledge.delivery_id == Delivery.id,
        Delivery.state == DeliveryState.SENT,
        Delivery.platform_deleted_at.is_(None),
        *also,
    )


def wipe_tokens(
    session: Session,
    account_ids: list[int],
    reason: str,
    *unless: ColumnElement[bool],
    now: datetime | None = None,
) -> int:
    """Delete the stored tokens of these supporter accounts unless a campaign that has not
    gone out yet still needs them (or any ``unless`` holds), and queue their revocation
    at the network (``revocations.queue``). Does not commit."""
    if not account_ids:
        return 0
    conditions = (
        Account.id.in_(account_ids),
        Account.owner_kind == "supporter",
        Account.credentials != "",
        ~still_needed(Account.id),
        *(~condition for condition in unless),
    )
    # The rows are locked (PostgreSQL) between reading the tokens to revoke and deleting
    # them. Should a sign-in replace a token in between (SQLite), the replaced token is
    # still revoked, which is right: nothing holds it any more.
    doomed = session.execute(
        select(Account.id, Account.platform, Account.credentials)
        .where(*conditions)
        .with_for_update()
    ).all()
    if not doomed:
        return 0
    revocations.queue(session, [(int(i), str(p), str(c)) for i, p, c in doomed], now or utcnow())
    wiped = session.execute(
        update(Account)
        .where(Account.id.in_([row[0] for row in doomed]), *conditions)
        .values(
            credentials="",
            token_fingerprint="",
            status=AccountStatus.DISABLED,
            status_reason=reason,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return int(wiped or 0)


def still_connected(session: Session, account_id: int) -> bool:
    """Whether the account's token is still stored: after a withdrawal, because a pledge
    of the same account to another campaign still to go out needs it (``wipe_tokens``)."""
    return bool(
        session.scalar(
            select(Account.id).where(Account.id == account_id, Account.credentials != "")
        )
    )


def forget_supporters(session: Session, pc_id: int) -> int:
    """Once a campaign has gone out (released) or will not (goal missed), its supporters'
    emails are deleted, and their tokens too unless another open campaign needs them or
    their post went out (then ``kept_tokens.forget_spent_tokens`` deletes it when its
    engagement is read, or at once with PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT=false). Returns
    how many accounts' tokens were deleted; does not commit."""
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
    return wipe_tokens(
        session,
        account_ids,
        "the pledge campaign is over; tokens deleted",
        post_went_out(Account.id),
    )


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
        PledgeCampaign.state.in_(
            (*PledgeCampaignState.TAKING_PLEDGES, PledgeCampaignState.GOAL_MISSED)
        ),
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
        wipe_tokens(
            session, [pledge.account_id], "withdrawn by the supporter; tokens deleted", now=now
        )
    session.commit()
    session.expire_all()
    logger.info(
        "pledge %s withdrawn; its tokens and email were deleted (and queued for revocation "
        "where the network allows)",
        pledge.id,
    )
    return True
