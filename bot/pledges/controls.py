"""An approver's controls over a pledge campaign's release: hold, resume, cancel, stop.

- **hold** (``open → held``, before the release is written): the release job skips a held
  campaign (it releases only ``open`` ones), and pledging, supporters' edits and
  withdrawals go on as while open, whatever the release time. Nothing is posted until an
  approver **resumes** it (``held → open``), with a new release time when the held one has
  passed or is too close (pledging closes PREPARE before it).
- **cancel** (``open``/``held → cancelled``, before the release is written): nothing goes
  out. As when a release ends, the supporters' emails are deleted and their tokens too,
  unless another campaign still to go out needs them (``withdrawal.forget_supporters``).
- **stop** (``releasing → stopping``, during the release): every delivery not yet started
  (``pending``) is cancelled with a conditional UPDATE, so each is either claimed by the
  dispatcher first (and then finishes) or cancelled here, never both; deliveries in flight
  (``sending``/``unknown``) are left to the ledger, which finishes them exactly once (an
  unknown one is looked for on the platform before anything is sent again). When every
  delivery is final, ``release.settle`` moves the campaign to ``stopped`` and forgets its
  supporters as at a release's end.

Each control is one conditional UPDATE on the campaign row (the row count says whether the
campaign was still in the state the control needs), written with its audit entry in one
transaction.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from bot.people import audit
from bot.pledges.cutoff import LIVE, PREPARE
from bot.pledges.release import campaign_deliveries, cancel_pending
from bot.pledges.withdrawal import forget_supporters
from bot.storage.models import (
    Delivery,
    DeliveryState,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
)

logger = logging.getLogger(__name__)

IN_FLIGHT = (DeliveryState.SENDING, DeliveryState.UNKNOWN)


class Control(StrEnum):
    HOLD = "hold"
    RESUME = "resume"
    CANCEL = "cancel"
    STOP = "stop"


class ControlError(Exception):
    """A control was refused; the message says why and what to do, safe to show."""


@dataclass(frozen=True)
class ReleaseCounts:
    """Where a campaign stands, for a confirmation page: pledges, and its release's
    deliveries (none before the release is written)."""

    slug: str
    state: str
    release_at: datetime
    timezone: str
    pledged: int
    sent: int
    pending: int
    in_flight: int
    cancelled: int
    other: int  # failed or missed
    total: int

    def allowed(self, now: datetime) -> list[Control]:
        """The controls that would be accepted now."""
        if self.state == PledgeCampaignState.OPEN:
            if self.release_at > now + PREPARE:
                return [Control.HOLD, Control.CANCEL]
            return []
        if self.state == PledgeCampaignState.HELD:
            return [Control.RESUME, Control.CANCEL]
        if self.state == PledgeCampaignState.RELEASING:
            return [Control.STOP]
        return []


@dataclass(frozen=True)
class StopOutcome:
    sent: int  # went out before the stop
    stopped: int  # not started: cancelled by the stop
    in_flight: int  # claimed when the stop came: the ledger finishes them


def counts(session: Session, pc: PledgeCampaign) -> ReleaseCounts:
    by_state: Counter[str] = Counter(
        {
            str(state): int(n)
            for state, n in session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.id.in_(campaign_deliveries(pc.id)))
                .group_by(Delivery.state)
            ).all()
        }
    )
    pledged = session.scalar(
        select(func.count()).where(Pledge.pledge_campaign_id == pc.id, Pledge.state.in_(LIVE))
    )
    known = (
        DeliveryState.SENT,
        DeliveryState.PENDING,
        DeliveryState.CANCELLED,
        *IN_FLIGHT,
    )
    return ReleaseCounts(
        slug=pc.campaign.slug,
        state=pc.state,
        release_at=pc.release_at,
        timezone=pc.timezone,
        pledged=int(pledged or 0),
        sent=by_state[DeliveryState.SENT],
        pending=by_state[DeliveryState.PENDING],
        in_flight=sum(by_state[s] for s in IN_FLIGHT),
        cancelled=by_state[DeliveryState.CANCELLED],
        other=sum(n for s, n in by_state.items() if s not in known),
        total=sum(by_state.values()),
    )


def _subject(pc: PledgeCampaign) -> str:
    return f"pledge_campaign:{pc.campaign.slug}"


def _refusal(pc: PledgeCampaign, control: Control) -> ControlError:
    state = str(pc.state).replace("_", " ")
    if control == Control.STOP:
        return ControlError(
            f"{pc.campaign.slug} is {state}, not releasing: only a release in progress can be "
            "stopped (before it starts, hold or cancel it)"
        )
    if control == Control.RESUME:
        return ControlError(f"{pc.campaign.slug} is {state}, not held: there is nothing to resume")
    if pc.state in PledgeCampaignState.GOING_OUT or pc.state == PledgeCampaignState.OPEN:
        return ControlError(
            f"{pc.campaign.slug}'s release has started: it can only be stopped now "
            f"(`python main.py release stop {pc.campaign.slug}`)"
        )
    return ControlError(f"{pc.campaign.slug} is {state}: it cannot be {control.value}ed now")


def _move(session: Session, pc: PledgeCampaign, allowed: Any, now: datetime, **values: Any) -> bool:
    won = session.execute(
        update(PledgeCampaign)
        .where(PledgeCampaign.id == pc.id, allowed)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(won == 1)


def _before_release(now: datetime) -> Any:
    """Held, or open with its release not yet written (the release claims ``open`` at
    ``release_at - PREPARE``)."""
    return or_(
        PledgeCampaign.state == PledgeCampaignState.HELD,
        and_(
            PledgeCampaign.state == PledgeCampaignState.OPEN,
            PledgeCampaign.release_at > now + PREPARE,
        ),
    )


def hold(session: Session, pc: PledgeCampaign, *, actor: str, now: datetime) -> None:
    """Put the release on hold before it is written; commits."""
    if not _move(
        session,
        pc,
        and_(
            PledgeCampaign.state == PledgeCampaignState.OPEN,
            PledgeCampaign.release_at > now + PREPARE,
        ),
        now,
        state=PledgeCampaignState.HELD,
    ):
        session.rollback()
        session.refresh(pc)
        if pc.state == PledgeCampaignState.HELD:
            raise ControlError(f"{pc.campaign.slug} is already on hold")
        raise _refusal(pc, Control.HOLD)
    audit.record(
        session,
        actor=actor,
        action="release.hold",
        subject=_subject(pc),
        before={"state": PledgeCampaignState.OPEN},
        after={"state": PledgeCampaignState.HELD},
        at=now,
    )
    session.commit()
    session.refresh(pc)
    logger.info("pledge campaign %s: release held by %s", pc.campaign.slug, actor)


def resume(
    session: Session,
    pc: PledgeCampaign,
    *,
    actor: str,
    now: datetime,
    release_at: datetime | None = None,
) -> None:
    """Take a held release off hold, at ``release_at`` or its own time; commits."""
    when = release_at or pc.release_at
    if when.tzinfo is None:
        raise ControlError("give the release time with its time zone")
    if when <= now + PREPARE:
        raise ControlError(
            f"the release time {when:%Y-%m-%d %H:%M} UTC has passed or is under "
            f"{int(PREPARE.total_seconds())} seconds away; give a new release time"
        )
    before = {"state": pc.state, "release_at": pc.release_at.isoformat()}
    if not _move(
        session,
        pc,
        PledgeCampaign.state == PledgeCampaignState.HELD,
        now,
        state=PledgeCampaignState.OPEN,
        release_at=when,
    ):
        session.rollback()
        session.refresh(pc)
        raise _refusal(pc, Control.RESUME)
    audit.record(
        session,
        actor=actor,
        action="release.resume",
        subject=_subject(pc),
        before=before,
        after={"state": PledgeCampaignState.OPEN, "release_at": when.isoformat()},
        at=now,
    )
    session.commit()
    session.refresh(pc)
    logger.info("pledge campaign %s: release resumed by %s for %s", pc.campaign.slug, actor, when)


def cancel(session: Session, pc: PledgeCampaign, *, actor: str, now: datetime) -> int:
    """Cancel the release before it is written: nothing goes out, and supporters' emails
    and tokens are deleted as at a release's end. Returns how many pledges were live;
    commits."""
    before = counts(session, pc)
    if not _move(session, pc, _before_release(now), now, state=PledgeCampaignState.CANCELLED):
        session.rollback()
        session.refresh(pc)
        raise _refusal(pc, Control.CANCEL)
    wiped = forget_supporters(session, pc.id)
    audit.record(
        session,
        actor=actor,
        action="release.cancel",
        subject=_subject(pc),
        before={"state": before.state, "pledged": before.pledged},
        after={"state": PledgeCampaignState.CANCELLED, "tokens_deleted": wiped},
        at=now,
    )
    session.commit()
    session.refresh(pc)
    logger.info(
        "pledge campaign %s: release cancelled by %s (%s pledges; %s tokens deleted)",
        pc.campaign.slug,
        actor,
        before.pledged,
        wiped,
    )
    return before.pledged


def stop(session: Session, pc: PledgeCampaign, *, actor: str, now: datetime) -> StopOutcome:
    """Stop a release in progress: what has not started is cancelled, what is in flight
    finishes; commits."""
    if not _move(
        session,
        pc,
        PledgeCampaign.state == PledgeCampaignState.RELEASING,
        now,
        state=PledgeCampaignState.STOPPING,
    ):
        session.rollback()
        session.refresh(pc)
        raise _refusal(pc, Control.STOP)
    stopped = cancel_pending(session, pc.id, now)
    # Counted in the same transaction as the cancel, so the three add up to what the
    # release had when it was stopped (those cancelled earlier, e.g. by an account's
    # disconnection, are neither).
    after = counts(session, pc)
    outcome = StopOutcome(sent=after.sent, stopped=stopped, in_flight=after.in_flight)
    audit.record(
        session,
        actor=actor,
        action="release.stop",
        subject=_subject(pc),
        before={"state": PledgeCampaignState.RELEASING},
        after={
            "state": PledgeCampaignState.STOPPING,
            "sent": outcome.sent,
            "stopped": outcome.stopped,
            "in_flight": outcome.in_flight,
        },
        at=now,
    )
    session.commit()
    session.refresh(pc)
    logger.warning(
        "pledge campaign %s: release stopped by %s: %s sent, %s stopped, %s in flight",
        pc.campaign.slug,
        actor,
        outcome.sent,
        outcome.stopped,
        outcome.in_flight,
    )
    return outcome
