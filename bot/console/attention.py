""" "What needs attention", at the top of every console page: each line says what is
wrong and the one action to take. Nothing to say, no box.

- deliveries that failed or were missed in the last ``RECENT`` (the posts list, filtered)
- campaign accounts that need reconnecting (the accounts page)
- a scheduler that has not ticked for ``heartbeat.STALE_AFTER`` or never did (how to start it)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from bot.console.pages import Attention, ConsoleUser, render
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.delivery import heartbeat
from bot.storage.models import Account, AccountStatus, Delivery, DeliveryState

RECENT = timedelta(days=7)
HELP_PATH = "/console/help/scheduler"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def items(session: Session, now: datetime, user: ConsoleUser) -> list[Attention]:
    found: list[Attention] = []
    since = now - RECENT
    for state, label in ((DeliveryState.FAILED, "failed"), (DeliveryState.MISSED, "missed")):
        count = session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.state == state, Delivery.due_at >= since)
        )
        if count:
            found.append(
                Attention(
                    f"{_plural(count, 'delivery', 'deliveries')} {label} in the last 7 days",
                    f"See the {label} posts",
                    f"/console/posts?state={state}",
                )
            )
    stale = list(
        session.scalars(
            select(Account.handle)
            .where(
                Account.owner_kind == "campaign", Account.status == AccountStatus.NEEDS_RECONNECT
            )
            .order_by(Account.handle)
        )
    )
    if stale:
        who = ", ".join(f"@{h}" for h in stale[:3]) + (" and more" if len(stale) > 3 else "")
        found.append(
            Attention(
                f"{who} {'needs' if len(stale) == 1 else 'need'} reconnecting: posts to "
                f"{'it' if len(stale) == 1 else 'them'} will fail",
                "Reconnect on the accounts page",
                "/console/accounts",
            )
        )
    pulse = heartbeat.pulse(session, now, heartbeat.STALE_AFTER)
    if pulse is None:
        found.append(
            Attention(
                "Clarion's scheduler is not running: nothing will be posted",
                "How to start it",
                HELP_PATH,
            )
        )
    elif pulse.stopped_at is not None:
        found.append(
            Attention(
                f"Clarion's scheduler was stopped at {pulse.stopped_at:%Y-%m-%d %H:%M} UTC: "
                "nothing will be posted until it is started again",
                "How to start it",
                HELP_PATH,
            )
        )
    elif now - pulse.beat_at > heartbeat.STALE_AFTER:
        minutes = max(2, round((now - pulse.beat_at).total_seconds() / 60))
        found.append(
            Attention(
                f"Clarion's scheduler has not ticked for {minutes} min: nothing is being posted",
                "How to start it",
                HELP_PATH,
            )
        )
    return found


async def scheduler_help(request: Request) -> Response:
    return render(request, "help_scheduler.html")


ROUTES: list[ConsoleRoute] = [
    route("/help/scheduler", scheduler_help, role=Role.VIEWER, name="help_scheduler"),
]
