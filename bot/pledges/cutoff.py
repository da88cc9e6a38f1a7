"""When a pledge campaign stops taking pledges, edits and withdrawals: one cut-off that
every page, handler and the release agree on, and the row lock that makes it hold.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from bot.storage.models import Campaign, PledgeCampaign, PledgeCampaignState, PledgeState

# The release is written this long before its time (pledges close then), so the daemon
# has every delivery planned when the moment comes instead of discovering them after it.
PREPARE = timedelta(seconds=10)
# Pledges that still count: a needs-reconnect pledge is still the supporter's intent.
LIVE = (PledgeState.ACTIVE, PledgeState.NEEDS_RECONNECT)


class PledgeError(Exception):
    """A pledge was refused; the message is safe to show a supporter."""


def find_campaign(session: Session, slug: str) -> PledgeCampaign | None:
    return session.scalars(
        select(PledgeCampaign).join(Campaign).where(Campaign.slug == slug)
    ).first()


def closes_at(pc: PledgeCampaign) -> datetime:
    """When pledging (and withdrawing, and editing) stops: the release is written then."""
    return pc.release_at - PREPARE


def is_open(pc: PledgeCampaign, now: datetime) -> bool:
    """The one cut-off every page and handler uses. A held release takes pledges whatever
    its time: nothing is written until an approver resumes it (bot.pledges.controls)."""
    if pc.state == PledgeCampaignState.HELD:
        return True
    return pc.state == PledgeCampaignState.OPEN and now < closes_at(pc)


_CLOSED = "this campaign is no longer taking pledges: its release has started"


def open_for_pledges(pc: PledgeCampaign, now: datetime) -> None:
    if not is_open(pc, now):
        raise PledgeError(_CLOSED)


def hold_open(session: Session, pc_id: int, now: datetime) -> None:
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
            or_(
                PledgeCampaign.state == PledgeCampaignState.HELD,
                and_(
                    PledgeCampaign.state == PledgeCampaignState.OPEN,
                    PledgeCampaign.release_at > now + PREPARE,
                ),
            ),
        )
        .values(updated_at=now)
    ).rowcount  # type: ignore[attr-defined]
    if won != 1:
        session.rollback()
        raise PledgeError(_CLOSED)
