"""After a release: a supporter's token is kept only while their post's engagement is read.

Reading a pledge post's engagement needs its supporter's token: Graph answers a Page's
post fields and insights only to that Page's token, and X gives impressions and link
clicks (``non_public_metrics``, ``organic_metrics``) only to the author's user token, for
30 days after posting (docs.x.com, "Metrics": "non-public and organic metrics are
available for Posts created within the last 30 days"). So, with
PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT on, the token of a supporter whose post went out is
kept until that post's last ENGAGEMENT_OFFSETS snapshot is taken, or its time plus a
day's margin has passed (``Settings.pledge_token_read_window``, in the platforms' time,
so on an accelerated sandbox it passes as fast as the snapshots come); then it is deleted.
Withdrawing before the release still deletes it at once (``withdrawal.withdraw``).

A kept token is never used to post again: the pledge is spent. Deliveries from a
supporter's account are only ever written by the release, for the pledges of a campaign
it moves ``open → releasing`` (once); schedules resolve only the campaign's own accounts.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, Exists

from bot.pledges.withdrawal import post_went_out, still_needed, wipe_tokens
from bot.settings import Settings
from bot.storage.models import Account, Delivery, Pledge, PledgeCampaign

logger = logging.getLogger(__name__)

REASON = "the pledge went out and its engagement has been read; tokens deleted"


def read_window(settings: Settings) -> timedelta | None:
    """How long after a pledge post went out its token is kept, in real time (None: not
    kept at all). The platforms' window divided by the sandbox's clock rate, as the
    daemon's engagement job divides the snapshot offsets (``plan.on_clock``)."""
    window = settings.pledge_token_read_window
    if window is None:
        return None
    return window / settings.clock_acceleration


def _still_read(account_id: Any, now: datetime, window: timedelta, stages: int) -> Exists:
    """A post of the account, sent from a pledge, whose engagement plan still has a
    snapshot to take (``engagement_stage`` counts those taken) and whose window is open."""
    return post_went_out(
        account_id, Delivery.engagement_stage < stages, Delivery.sent_at > now - window
    )


def forget_spent_tokens(session: Session, now: datetime, settings: Settings) -> int:
    """Delete every supporter's token that no campaign still to go out needs and whose
    posts' engagement is no longer read (all of them with the setting off). Reads first
    and writes only when there is something to delete (this runs after every release and
    every minute); commits then. Returns how many accounts' tokens were deleted."""
    window = read_window(settings)
    stages = len(settings.engagement_offsets)
    unless: list[ColumnElement[bool]] = []
    if window is not None and stages:
        unless.append(_still_read(Account.id, now, window, stages))
    spent = list(
        session.scalars(
            select(Account.id).where(
                Account.owner_kind == "supporter",
                Account.credentials != "",
                ~still_needed(Account.id),
                *(~condition for condition in unless),
            )
        )
    )
    if not spent:
        session.rollback()  # end the read transaction: no lock held between runs
        return 0
    # The same conditions again inside the UPDATE: a supporter pledging anew in between
    # keeps the token the new pledge needs.
    wiped = wipe_tokens(session, spent, REASON, *unless, now=now)
    session.commit()
    if wiped:
        logger.info(
            "deleted the tokens of %s supporter accounts: their pledges went out and %s",
            wiped,
            "their engagement has been read" if unless else "tokens are not kept after a release",
        )
    return wiped


def no_figures_note(session: Session, campaign_id: int, settings: Settings) -> str:
    """For the report: why this campaign's Facebook pledge posts have no engagement figures
    ("" when they can have them). Graph answers a Page's posts only to that Page's token."""
    if settings.pledge_token_read_window is not None:
        return ""
    has_facebook = session.scalar(
        select(
            exists().where(
                Pledge.platform == "facebook",
                Pledge.delivery_id.is_not(None),
                Pledge.pledge_campaign_id.in_(
                    select(PledgeCampaign.id).where(PledgeCampaign.campaign_id == campaign_id)
                ),
            )
        )
    )
    if not has_facebook:
        return ""
    return (
        "Facebook pledge posts have no engagement figures: Facebook gives a Page's post "
        "figures only to that Page's token, and PLEDGE_TOKENS_KEPT_FOR_ENGAGEMENT=false "
        "deletes supporters' tokens when the release ends. X pledge posts have public "
        "figures only (no impressions or link clicks, which need the author's token)."
    )
