"""Counts for the campaign page and the CLI: live pledges, their reach, the ready reach,
and the message as each platform will show it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.pledges import texts
from bot.pledges.cutoff import LIVE, PledgeError
from bot.storage.models import Pledge, PledgeCampaign, PledgeState


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
