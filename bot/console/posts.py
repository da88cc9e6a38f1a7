"""The posts list, one post's page (its deliveries and audit trail) and cancelling.

GET  /console/posts                  every post, with the calendar's filters (viewer)
GET  /console/posts/{id}             the post as queued, its deliveries, its audit trail
GET  /console/posts/{id}/cancel      "Cancel this post?" (editor)
POST /console/posts/{id}/cancel      cancel what has not gone out (editor)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, selectinload
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns import approvals, editing, embargo, previews
from bot.campaigns.enqueue import CancelResult, started
from bot.campaigns.specs import PLATFORMS
from bot.campaigns.status import PostStatus, post_status
from bot.console.pages import (
    NavItem,
    flash,
    message,
    now_of,
    picked_campaign,
    read_form,
    reader_of,
    render,
    runtime_of,
    see_other,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.platforms import PLATFORM_LABELS
from bot.storage.models import (
    ApprovalStep,
    AuditEntry,
    Campaign,
    Delivery,
    DeliveryState,
    Post,
    PostState,
)

logger = logging.getLogger(__name__)

PLATFORM_NAMES = dict(PLATFORM_LABELS)  # every registered platform
# A state is never told by colour alone: each has a symbol and its word.
STATUS_SYMBOLS = {
    PostStatus.AWAITING_APPROVAL: "◌",
    PostStatus.REJECTED: "✗",
    PostStatus.SCHEDULED: "◷",
    PostStatus.SENDING: "↻",
    PostStatus.RETRYING: "↻",
    PostStatus.PARTLY_SENT: "◐",
    PostStatus.SENT: "✓",
    PostStatus.FAILED: "✗",
    PostStatus.MISSED: "!",
    PostStatus.CANCELLED: "⊘",
    PostStatus.NO_TARGETS: "–",
}
LIST_LIMIT = 200
DELIVERY_FILTERS = frozenset({PostStatus.FAILED, PostStatus.MISSED})


@dataclass(frozen=True)
class Filters:
    """What the calendar and the list are narrowed to; "" means any."""

    campaign: str = ""
    platform: str = ""
    state: str = ""
    author: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        q = request.query_params
        platform = q.get("platform", "")
        state = q.get("state", "")
        return cls(
            campaign=picked_campaign(request),
            platform=platform if platform in PLATFORMS else "",
            state=state if state in {s.value for s in PostStatus} else "",
            author=q.get("author", "")[:320],
        )

    def query(self, base: Select[Any]) -> Select[Any]:
        """``base`` narrowed by the filters the database can apply (state is read from
        the deliveries afterwards, by ``keep``)."""
        query = base.options(
            selectinload(Post.deliveries).selectinload(Delivery.account),
            selectinload(Post.campaign),
        )
        if self.campaign:
            query = query.join(Campaign, Post.campaign_id == Campaign.id).where(
                Campaign.slug == self.campaign
            )
        if self.platform:
            query = query.where(
                Post.id.in_(select(Delivery.post_id).where(Delivery.platform == self.platform))
            )
        if self.author:
            query = query.where(Post.created_by == self.author)
        return query

    def keep(self, post: Post) -> bool:
        if not self.state or post_status(post) == self.state:
            return True
        # "failed" and "missed" also find a post that went out elsewhere: the needs-attention
        # box counts deliveries, and one failed on Facebook leaves its post "partly sent".
        return self.state in DELIVERY_FILTERS and any(
            d.state == self.state for d in post.deliveries
        )

    def params(self) -> dict[str, str]:
        """The filters as query parameters, to carry them across links."""
        return {
            k: v
            for k, v in (
                ("platform", self.platform),
                ("state", self.state),
                ("author", self.author),
            )
            if v
        }


def zone_name(session: Session, slug: str, fallback: str) -> str:
    """The time zone pages show: the campaign's own, or the TIMEZONE setting for all."""
    if slug:
        found = session.scalar(select(Campaign.timezone).where(Campaign.slug == slug))
        if found:
            return found
    return fallback


def authors(session: Session) -> list[str]:
    found = session.scalars(select(Post.created_by).where(Post.created_by.is_not(None)).distinct())
    return sorted(a for a in found if a)


def first_words(post: Post, width: int = 60) -> str:
    """The start of the post as written (links as X shows them, never a tagged URL)."""
    written = editing.written_parts(post)
    texts = written.get("x") or written.get("facebook") or ("",)
    segments = previews.preview((texts[0],), None, None).x[0].segments
    flat = " ".join("".join(s.text for s in segments).split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"


def post_label(post: Post) -> str:
    return f"{post.campaign.slug}/{post.key}"


def entry(post: Post, zone: str, reader: embargo.Reader, now: datetime) -> dict[str, Any]:
    """What the calendar and the list show of a post (an embargoed statement ``reader``
    may not read yet: "Embargoed statement, 12:00" instead of its words)."""
    status = post_status(post)
    hidden = not embargo.may_read(post, reader, now)
    local = post.scheduled_at.astimezone(ZoneInfo(zone))
    platforms = sorted({d.platform for d in post.deliveries}, key=PLATFORMS.index)
    return {
        "id": post.id,
        "label": post_label(post),
        "campaign": post.campaign.slug,
        "time": f"{local:%H:%M}",
        "date": f"{local:%a} {local.day} {local:%b}",
        "when": local,
        "platforms": [PLATFORM_NAMES[p] for p in platforms],
        "words": embargo.cover(post, zone) if hidden else first_words(post),
        "hidden": hidden,
        "embargoed": post.embargoed and embargo.under_embargo(post, now),
        "status": status.value,
        "symbol": STATUS_SYMBOLS[status],
        "kind": post.kind,
        "parts": len(post.parts.get("x", [])),
        "author": post.created_by or "",
        "links": [
            {"platform": PLATFORM_NAMES[d.platform], "url": d.url}
            for d in post.deliveries
            if d.url and d.state == DeliveryState.SENT
        ],
    }


def filter_choices(session: Session) -> dict[str, Any]:
    return {
        "platform_choices": [(p, PLATFORM_NAMES[p]) for p in PLATFORMS],
        "state_choices": [s.value for s in PostStatus],
        "author_choices": authors(session),
    }


async def list_page(request: Request) -> Response:
    filters = Filters.of(request)
    runtime = runtime_of(request)
    reader, now = reader_of(request), now_of(request)

    def load() -> dict[str, Any]:
        with runtime.sessions() as session:
            zone = zone_name(session, filters.campaign, runtime.settings.timezone)
            query = filters.query(select(Post)).order_by(Post.scheduled_at.desc(), Post.id)
            found = [p for p in session.scalars(query.limit(LIST_LIMIT)) if filters.keep(p)]
            return {
                "zone": zone,
                "entries": [entry(p, zone, reader, now) for p in found],
                "filters": filters,
                "limit": LIST_LIMIT,
                "can_compose": user_of(request).role.allows(Role.EDITOR),
                **filter_choices(session),
            }

    return render(request, "posts_list.html", await run_in_threadpool(load))


def _post_id(request: Request) -> int:
    return int(request.path_params["post_id"])


def audit_trail(session: Session, post: Post) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject == editing.post_subject(post))
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


def _deliveries(post: Post, zone: str) -> list[dict[str, Any]]:
    def shown(moment: datetime | None) -> str:
        return f"{moment.astimezone(ZoneInfo(zone)):%a %d %b %H:%M}" if moment else ""

    return [
        {
            "platform": PLATFORM_NAMES[d.platform],
            "account": f"@{d.account.handle.lstrip('@')}"
            if d.platform == "x"
            else d.account.handle,
            "state": d.state,
            "attempts": d.attempts,
            "error": d.error or "",
            "platform_ids": list(d.platform_ids or []),
            "url": d.url,
            "due": shown(d.due_at),
            "sent": shown(d.sent_at),
        }
        for d in sorted(post.deliveries, key=lambda d: (PLATFORMS.index(d.platform), d.id))
    ]


async def show_page(request: Request) -> Response:
    post_id = _post_id(request)
    runtime = runtime_of(request)
    user = user_of(request)
    reader, now = reader_of(request), now_of(request)

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return None
            zone = post.campaign.timezone
            is_started = started(post)
            pending = any(d.state == DeliveryState.PENDING for d in post.deliveries)
            hidden = not embargo.may_read(post, reader, now)
            written = (
                {p: tuple(t) for p, t in embargo.covered_parts(post).items()}
                if hidden
                else editing.written_parts(post)
            )
            return {
                "post": entry(post, zone, reader, now),
                "zone": zone,
                "when": f"{post.scheduled_at.astimezone(ZoneInfo(zone)):%A %d %B %Y, %H:%M}",
                "x_parts": list(written.get("x", ())),
                "facebook_text": (written.get("facebook") or [""])[0],
                "link": None if hidden else post.link,
                "hidden": hidden,
                "approval": _approval(session, post),
                "can_decide": user.role.allows(Role.APPROVER)
                and post.state == PostState.AWAITING_APPROVAL
                and post.created_by != user.email,
                "hold_on_facebook": post.hold_on_facebook,
                "source": post.source,
                "created_by": post.created_by or "",
                "deliveries": _deliveries(post, zone),
                "trail": [
                    {
                        "at": f"{e.at.astimezone(ZoneInfo(zone)):%a %d %b %Y %H:%M}",
                        "actor": e.actor,
                        "action": e.action,
                        "changes": _changes(
                            embargo.covered_snapshot(e.before, post) if hidden else e.before,
                            embargo.covered_snapshot(e.after, post) if hidden else e.after,
                        ),
                    }
                    for e in audit_trail(session, post)
                ],
                "can_edit": user.role.allows(Role.EDITOR) and not is_started and not hidden,
                "can_cancel": user.role.allows(Role.EDITOR)
                and post.state != PostState.CANCELLED
                and pending,
                "started": is_started,
            }

    context = await run_in_threadpool(load)
    if context is None:
        return _no_post(request, post_id)
    return render(request, "posts_show.html", context)


def _approval(session: Session, post: Post) -> str:
    """One line on where the post's approval stands ("" when it needs none)."""
    if not post.requires_approval:
        return ""
    steps = approvals.steps(session, post)
    last = steps[-1] if steps else None
    if post.state == PostState.SCHEDULED and last and last.step == ApprovalStep.APPROVE:
        return f"Approved by {last.actor}."
    if post.state == PostState.REJECTED and last and last.step == ApprovalStep.REJECT:
        return f"Rejected by {last.actor}: {last.reason}"
    if post.state == PostState.AWAITING_APPROVAL:
        return "Awaiting approval by an approver other than its author: it is not sent until then."
    return "Needs approval."


def _changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """An audit entry's before → after, one line per field that changed (each text of
    each platform on its own line)."""
    old, new = _flat(before or {}), _flat(after or {})
    return [
        f"{key}: {_short(old.get(key, ''))} → {_short(new.get(key, ''))}"
        for key in sorted(set(old) | set(new), key=_order)
        if old.get(key) != new.get(key)
    ]


def _flat(values: dict[str, Any]) -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in values.items():
        if key == "parts" and isinstance(value, dict):
            for platform, texts in value.items():
                name = PLATFORM_NAMES.get(platform, platform)
                for index, text in enumerate(texts, 1):
                    label = f"{name} text" + (f" {index}" if len(texts) > 1 else "")
                    flat[label] = str(text)
        elif isinstance(value, list):
            flat[key.replace("_", " ")] = ", ".join(str(v) for v in value)
        else:
            flat[key.replace("_", " ")] = "" if value is None else str(value)
    return flat


def _order(key: str) -> tuple[int, str]:
    return (0 if " text" in key else 1, key)


def _short(value: str) -> str:
    text = " ".join(value.split()) or "(none)"
    return text if len(text) <= 160 else text[:159] + "…"


def _no_post(request: Request, post_id: int) -> Response:
    return message(
        request,
        404,
        "No such post",
        f"There is no post {post_id}. It may have been a link from another Clarion; see "
        "the posts list.",
    )


async def cancel_page(request: Request) -> Response:
    post_id = _post_id(request)
    runtime = runtime_of(request)

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return None
            zone = post.campaign.timezone
            pending = [d for d in post.deliveries if d.state == DeliveryState.PENDING]
            return {
                "post": entry(post, zone, reader_of(request), now_of(request)),
                "zone": zone,
                "pending": len(pending),
                "out": len(post.deliveries) - len(pending),
                "cancelled": post.state == PostState.CANCELLED,
            }

    context = await run_in_threadpool(load)
    if context is None:
        return _no_post(request, post_id)
    return render(request, "posts_cancel.html", context)


async def cancel(request: Request) -> Response:
    post_id = _post_id(request)
    form = await read_form(request)
    runtime = runtime_of(request)
    user = user_of(request)
    if form["confirm"] != "yes":
        return see_other(f"/console/posts/{post_id}")

    def act() -> tuple[str, CancelResult] | None:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return None
            return post_label(post), editing.cancel(session, post, actor=user.email)

    done = await run_in_threadpool(act)
    if done is None:
        return _no_post(request, post_id)
    label, result = done
    if not result.cancelled:
        flash(request, f"Nothing was cancelled: nothing of {label} was still waiting to go out.")
        return see_other(f"/console/posts/{post_id}")
    text = f"Cancelled {label}: nothing more of it will go out."
    if result.already_out:
        text += (
            f" {result.already_out} had already gone out or started; delete those on the "
            "platform if needed."
        )
    flash(request, text)
    return see_other(f"/console/posts/{post_id}")


NAV = [NavItem("Posts", "/posts", Role.VIEWER)]

ROUTES: list[ConsoleRoute] = [
    route("/posts", list_page, role=Role.VIEWER, name="posts"),
    route("/posts/{post_id:int}", show_page, role=Role.VIEWER, name="post"),
    route("/posts/{post_id:int}/cancel", cancel_page, role=Role.EDITOR, name="post_cancel"),
    route(
        "/posts/{post_id:int}/cancel",
        cancel,
        role=Role.EDITOR,
        methods=("POST",),
        name="post_cancel_post",
    ),
]
