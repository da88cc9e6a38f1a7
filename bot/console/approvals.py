"""The approvers' queue: posts waiting for a second person, each with what changed since
the version this approver last decided on, and Approve / Reject.

GET  /console/approvals                     what waits, soonest first (approver)
POST /console/approvals/{id}/approve        approve the version shown (approver, not its author)
POST /console/approvals/{id}/reject         reject it with a reason (approver, not its author)

The decisions go through ``bot.campaigns.approvals``, the path of `posts approve` and
`posts reject`: the author is refused there, with the same words, whatever the page shows.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns import approvals, editing
from bot.campaigns.approvals import ApprovalRefused, Change
from bot.console.pages import (
    NavItem,
    flash,
    message,
    now_of,
    read_form,
    render,
    runtime_of,
    see_other,
    user_of,
)
from bot.console.posts import PLATFORM_NAMES
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.storage.models import ApprovalStep, Post, PostApproval

logger = logging.getLogger(__name__)

MAX_REASON = 1000
DECIDED = {ApprovalStep.APPROVE: "approved", ApprovalStep.REJECT: "rejected"}


def _item(session: Session, post: Post, approver: str, now: datetime) -> dict[str, Any]:
    zone = post.campaign.timezone
    local = post.scheduled_at.astimezone(ZoneInfo(zone))
    seen = approvals.last_seen(session, post, approver)
    # Never decided on: the text as it stands, nothing marked (all of it is new to them).
    diff = approvals.parts_diff(seen.parts if seen else post.parts, post.parts)
    platforms = sorted({d.platform for d in post.deliveries})
    return {
        "id": post.id,
        "label": f"{post.campaign.slug}/{post.key}",
        "when": f"{local:%a %d %b %Y, %H:%M}",
        "zone": zone,
        "in": _until(post.scheduled_at - now),
        "author": post.created_by or "not recorded",
        "mine": bool(post.created_by) and post.created_by == approver,
        "embargoed": post.embargoed,
        "platforms": [PLATFORM_NAMES.get(p, p) for p in platforms],
        "seen": _seen(seen, zone) if seen else "",
        "changed": seen is not None and seen.parts != post.parts,
        # The text is the same but the post is not: its time, link or accounts moved.
        "moved": seen is not None
        and seen.parts == post.parts
        and approvals.seen_version(session, post, approver) != approvals.version_of(post),
        "parts": [
            {
                "platform": PLATFORM_NAMES.get(platform, platform),
                "index": index,
                "of": len(rows),
                "pieces": [{"change": p.change.value, "text": p.text} for p in pieces],
            }
            for platform, rows in diff.items()
            for index, pieces in enumerate(rows, 1)
        ],
        "link": post.link,
        "version": approvals.version_of(post),
    }


def _seen(step: PostApproval, zone: str) -> str:
    """ "rejected on Sun 06 Dec 11:02": the decision the diff is against."""
    return (
        f"{DECIDED[ApprovalStep(step.step)]} on {step.at.astimezone(ZoneInfo(zone)):%a %d %b %H:%M}"
    )


def _until(left: timedelta) -> str:
    minutes = int(left.total_seconds() // 60)
    if minutes < 0:
        return f"its time passed {-minutes} min ago"
    if minutes < 120:
        return f"in {minutes} min"
    if minutes < 48 * 60:
        return f"in {minutes // 60} h"
    return f"in {minutes // (24 * 60)} days"


async def queue_page(request: Request) -> Response:
    runtime = runtime_of(request)
    user = user_of(request)
    now = now_of(request)

    def load() -> dict[str, Any]:
        with runtime.sessions() as session:
            items = [_item(session, p, user.email, now) for p in approvals.waiting(session)]
            return {"items": items, "changes": Change, "max_reason": MAX_REASON}

    return render(request, "approvals.html", await run_in_threadpool(load))


async def _decide(request: Request, approve: bool) -> Response:
    post_id = int(request.path_params["post_id"])
    form = await read_form(request)
    runtime = runtime_of(request)
    user = user_of(request)
    now = now_of(request)
    grace = timedelta(minutes=runtime.settings.missed_grace_minutes)
    reason = form["reason"][:MAX_REASON]

    def act() -> str | None:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return None
            label = f"{post.campaign.slug}/{post.key}"
            if approve:
                approvals.approve(
                    session,
                    post,
                    actor=user.email,
                    now=now,
                    grace=grace,
                    version=form["version"] or None,
                )
            else:
                approvals.reject(session, post, actor=user.email, reason=reason)
            return label

    try:
        label = await run_in_threadpool(act)
    except ApprovalRefused as refused:
        return message(request, 409, "Not done", f"{str(refused)[:1].upper()}{str(refused)[1:]}.")
    if label is None:
        return message(request, 404, "No such post", f"There is no post {post_id}.")
    if approve:
        flash(request, f"Approved {label}: it goes out at its time.")
    else:
        flash(request, f"Rejected {label}; its author can change it and it comes back here.")
    return see_other("/console/approvals")


async def approve(request: Request) -> Response:
    return await _decide(request, approve=True)


async def reject(request: Request) -> Response:
    return await _decide(request, approve=False)


NAV = [NavItem("Approvals", "/approvals", Role.APPROVER)]

ROUTES: list[ConsoleRoute] = [
    route("/approvals", queue_page, role=Role.APPROVER, name="approvals"),
    route(
        "/approvals/{post_id:int}/approve",
        approve,
        role=Role.APPROVER,
        methods=("POST",),
        name="approvals_approve",
    ),
    route(
        "/approvals/{post_id:int}/reject",
        reject,
        role=Role.APPROVER,
        methods=("POST",),
        name="approvals_reject",
    ),
]
