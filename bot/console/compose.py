"""Writing a post or a thread in the browser, and changing one that has not gone out.

GET  /console/posts/new             the composer (editor)
POST /console/posts/new             Check, Add part, Remove part, or Save
GET  /console/posts/{id}/edit       the composer, filled in with a pending post
POST /console/posts/{id}/edit
POST /console/posts/check           counts and previews as JSON, for console.js

One form does it all without JavaScript: "Add part" and "Remove" are submit buttons,
"Check" redraws the counters and previews on the server. Saving goes through
``bot.campaigns.editing`` (the path of `posts add` and `posts edit`), so a problem is the
CLI's own words, shown beside its field, and nothing is stored.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.campaigns import editing, embargo, text_rules
from bot.campaigns.editing import Draft, PostExists, PostStarted
from bot.campaigns.enqueue import started
from bot.campaigns.previews import Count, Preview, preview
from bot.campaigns.schedules.times import TimeProblem, parse_time
from bot.campaigns.specs import Problem, SpecError
from bot.console.pages import (
    Form,
    console_of,
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
from bot.storage.models import Account, AccountStatus, Campaign, Post

logger = logging.getLogger(__name__)

MAX_PARTS = 25  # a thread longer than this is a blog post; X allows 25 in its own composer
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
DEFAULT_CAMPAIGN = "general"


@dataclass
class Composed:
    """The composer's fields as the person filled them in."""

    campaign: str
    x_parts: list[str]
    facebook_text: str = ""
    link: str = ""
    targets: list[str] = field(default_factory=list)
    date: str = ""
    time: str = ""
    hold: bool = False
    requires_approval: bool = False
    embargoed: bool = False

    @classmethod
    def from_form(cls, form: Form, campaign: str) -> Composed:
        parts = form.all("x_part")[:MAX_PARTS] or [""]
        return cls(
            campaign=campaign,
            x_parts=parts,
            facebook_text=form["facebook_text"],
            link=form["link"].strip(),
            targets=form.all("to"),
            date=form["date"].strip(),
            time=form["time"].strip(),
            hold=form["hold"] == "on",
            requires_approval=form["requires_approval"] == "on",
            embargoed=form["embargoed"] == "on",
        )


@dataclass(frozen=True)
class Choice:
    """One account checkbox."""

    value: str  # a target as in `to:`: x:@handle, facebook:Page name, bluesky:@handle
    label: str
    platform: str
    name: str  # as the platform shows the author: @handle, the Page's name
    note: str = ""


def account_choices(session: Session) -> list[Choice]:
    """The campaign's own accounts (never a supporter's), default first."""
    found = session.scalars(
        select(Account)
        .where(Account.owner_kind == "campaign", Account.status != AccountStatus.DISABLED)
        .order_by(Account.platform.desc(), Account.is_default.desc(), Account.handle)
    )
    return [choice_of(a) for a in found]


def choice_of(account: Account) -> Choice:
    if account.platform == "x":
        handle = "@" + account.handle.lstrip("@")
        value, label, name = f"x:{handle}", f"{handle} on X", handle
    elif account.platform == "mastodon":
        handle = "@" + account.handle.lstrip("@")  # @name@server
        value, label, name = f"mastodon:{handle}", f"{handle} on Mastodon", handle
    elif account.platform == "bluesky":
        handle = "@" + account.handle.lstrip("@")  # @name.bsky.social
        value, label, name = f"bluesky:{handle}", f"{handle} on Bluesky", handle
    else:
        name = account.handle
        value, label = f"facebook:{name}", f"{name} (Facebook Page)"
    note = "needs reconnecting" if account.status == AccountStatus.NEEDS_RECONNECT else ""
    return Choice(value, label, account.platform, name, note)


def zone_of(session: Session, slug: str, fallback: str) -> str:
    found = session.scalar(select(Campaign.timezone).where(Campaign.slug == slug))
    return found or fallback


def _when(composed: Composed, zone: str) -> tuple[datetime | None, str | None]:
    if not composed.date or not composed.time:
        return None, "give a date and a time, e.g. 2027-03-01 and 18:00"
    try:
        return parse_time(f"{composed.date} {composed.time}", ZoneInfo(zone)), None
    except TimeProblem as problem:
        return None, f"{composed.date} {composed.time} {problem}"


def draft_of(
    composed: Composed, zone: str, now: datetime, targets: tuple[str, ...] | None = None
) -> tuple[Draft, dict[str, list[str]]]:
    """The Draft to check and store, and the problems found reading the fields (a time
    that cannot be read is replaced by a placeholder so the texts are still checked)."""
    errors: dict[str, list[str]] = {}
    if not SLUG.match(composed.campaign):
        errors.setdefault("campaign", []).append(
            "lowercase letters, digits and hyphens, e.g. fujitsu-demo"
        )
    link = composed.link or None
    if link is not None:
        problem = editing.link_problem(link)
        if problem:
            errors.setdefault("link", []).append(problem)
    when, problem = _when(composed, zone)
    if problem:
        errors.setdefault("when", []).append(problem)
    written = [p for p in composed.x_parts if p.strip()]
    parts: dict[str, tuple[str, ...]] = {}
    if written:
        parts["x"] = tuple(composed.x_parts)
        # Bluesky and Mastodon take the same parts as X (a thread there too), when ticked.
        chosen = targets if targets is not None else tuple(composed.targets)
        for platform in ("bluesky", "mastodon"):
            if any(t.partition(":")[0] == platform for t in chosen):
                parts[platform] = tuple(composed.x_parts)
    facebook = composed.facebook_text.strip() and composed.facebook_text
    facebook = facebook or (text_rules.join_thread(written) if written else "")
    if facebook:
        parts["facebook"] = (facebook,)
    draft = Draft(
        parts=parts,
        scheduled_at=when or now + timedelta(days=1),
        timezone=zone,
        targets=targets if targets is not None else tuple(composed.targets),
        link=link if "link" not in errors else None,
        hold_on_facebook=composed.hold,
        requires_approval=composed.requires_approval,
        embargoed=composed.embargoed,
    )
    return draft, errors


def field_of(problem: Problem) -> str:
    """The composer field a problem belongs beside."""
    if problem.platform == "x":
        match = re.match(r"thread\[(\d+)\]", problem.field)
        return f"x_part-{match.group(1) if match else 1}"
    if problem.platform == "facebook":
        return "facebook_text"
    return {"to": "to", "at": "when", "facebook.hold": "hold"}.get(problem.field, "form")


def add_problems(errors: dict[str, list[str]], problems: list[Problem]) -> None:
    for problem in problems:
        name = field_of(problem)
        if name == "when" and "when" in errors:
            continue  # the time could not be read: that is already said
        text = problem.message
        if problem.platform and text.startswith(f"{problem.platform}: "):
            text = text[len(problem.platform) + 2 :]
        if problem.field == "at":
            text = f"{problem.value} {text}"
        errors.setdefault(name, []).append(text)


def counter_text(count: Count) -> str:
    if count.over:
        return f"{count.length:,} of {count.limit:,}: {-count.left:,} over"
    return f"{count.left:,} left"


def _counts(shown: Preview) -> dict[str, Any]:
    return {
        "x": [{"text": counter_text(p.count), "over": p.count.over} for p in shown.x],
        "facebook": (
            {"text": counter_text(shown.facebook.count), "over": shown.facebook.count.over}
            if shown.facebook
            else None
        ),
    }


def full_preview(composed: Composed) -> Preview:
    """Counts and previews of every X part and of the Facebook text (the X text joined
    when Facebook has no text of its own), ticked or not: the counters beside each field."""
    written = [p for p in composed.x_parts if p.strip()]
    facebook = composed.facebook_text if composed.facebook_text.strip() else None
    if facebook is None and written:
        facebook = text_rules.join_thread(written)
    return preview(tuple(composed.x_parts), facebook, composed.link or None)


def preview_of(composed: Composed) -> Preview:
    """The previews drawn: only the platforms ticked (both while none is)."""
    shown = full_preview(composed)
    ticked = {target.partition(":")[0] for target in composed.targets}
    if not ticked:
        return shown
    return Preview(
        x=shown.x if "x" in ticked else (),
        facebook=shown.facebook if "facebook" in ticked else None,
    )


@dataclass
class Page:
    """What the composer template needs besides the form."""

    mode: str  # "new" or "edit"
    action: str  # where the form posts
    post_id: int | None = None
    label: str = ""


def _context(
    session: Session,
    composed: Composed,
    page: Page,
    zone: str,
    errors: dict[str, list[str]],
) -> dict[str, Any]:
    choices = account_choices(session)
    campaigns = [c for c in session.scalars(select(Campaign.slug).order_by(Campaign.slug))]

    def shown_as(platform: str, fallback: str) -> str:
        mine = [c for c in choices if c.platform == platform]
        ticked = [c for c in mine if c.value in composed.targets]
        return (ticked or mine)[0].name if mine else fallback

    return {
        "form": composed,
        "page": page,
        "zone": zone,
        "errors": errors,
        "choices": choices,
        "campaign_choices": campaigns,
        "preview": preview_of(composed),
        "counters": _counts(full_preview(composed)),
        "x_name": shown_as("x", "@account"),
        "facebook_name": shown_as("facebook", "Your Page"),
        "max_parts": MAX_PARTS,
    }


def _blank(session: Session, request: Request, fallback_zone: str) -> tuple[Composed, str]:
    picked = picked_campaign(request)
    slugs = list(session.scalars(select(Campaign.slug).order_by(Campaign.slug)))
    campaign = picked if picked in slugs else (slugs[0] if slugs else DEFAULT_CAMPAIGN)
    zone = zone_of(session, campaign, fallback_zone)
    # The next whole hour, a time a volunteer can keep or change.
    soon = (now_of(request).astimezone(ZoneInfo(zone)) + timedelta(hours=1)).replace(
        minute=0, second=0, microsecond=0
    )
    defaults = [
        c.value
        for c in account_choices(session)
        # An account that needs reconnecting is left for the person to tick; so are
        # Bluesky and Mastodon accounts, which have no text field of their own here
        # (ticked, they take the X parts).
        if not c.note and c.platform not in ("bluesky", "mastodon")
    ]
    composed = Composed(
        campaign=campaign,
        x_parts=[""],
        targets=defaults,
        date=f"{soon:%Y-%m-%d}",
        time=f"{soon:%H:%M}",
    )
    return composed, zone


def _from_post(post: Post) -> Composed:
    written = editing.written_parts(post)
    x_parts = list(written.get("x", ())) or [""]
    facebook = (written.get("facebook") or ("",))[0]
    if facebook == text_rules.join_thread([p for p in x_parts if p.strip()]):
        facebook = ""  # Facebook follows the X text unless it was given its own
    local = post.scheduled_at.astimezone(ZoneInfo(post.campaign.timezone))
    return Composed(
        campaign=post.campaign.slug,
        x_parts=x_parts,
        facebook_text=facebook,
        link=post.link or "",
        targets=[choice_of(d.account).value for d in post.deliveries],
        date=f"{local:%Y-%m-%d}",
        time=f"{local:%H:%M}",
        hold=post.hold_on_facebook,
        requires_approval=post.requires_approval,
        embargoed=post.embargoed,
    )


async def new_page(request: Request) -> Response:
    runtime = runtime_of(request)

    def load() -> dict[str, Any]:
        with runtime.sessions() as session:
            composed, zone = _blank(session, request, runtime.settings.timezone)
            return _context(session, composed, Page("new", "/console/posts/new"), zone, {})

    return render(request, "compose.html", await run_in_threadpool(load))


def _edited_targets(post: Post, composed: Composed) -> tuple[str, ...]:
    """The post's own targets when the same accounts are ticked (so an unchanged form is
    an unchanged post), else the ticked accounts."""
    same = sorted(choice_of(d.account).value for d in post.deliveries)
    if sorted(composed.targets) == same:
        return tuple(post.targets)
    return tuple(composed.targets)


def _apply_buttons(form: Form, composed: Composed) -> bool:
    """Add part / Remove part: change the form, store nothing. True when one was used."""
    action = form["action"]
    if action == "add_part":
        if len(composed.x_parts) < MAX_PARTS:
            composed.x_parts.append("")
        return True
    if action.startswith("remove_part:"):
        index = action.partition(":")[2]
        if index.isdigit() and 1 <= int(index) <= len(composed.x_parts):
            del composed.x_parts[int(index) - 1]
        composed.x_parts = composed.x_parts or [""]
        return True
    return False


async def new_post(request: Request) -> Response:
    form = await read_form(request)
    runtime = runtime_of(request)
    user = user_of(request)
    now = now_of(request)
    page = Page("new", "/console/posts/new")

    def act() -> tuple[int | None, dict[str, Any]]:
        with runtime.sessions() as session:
            composed = Composed.from_form(form, form["campaign"].strip() or DEFAULT_CAMPAIGN)
            zone = zone_of(session, composed.campaign, runtime.settings.timezone)
            if _apply_buttons(form, composed):
                return None, _context(session, composed, page, zone, {})
            draft, errors = draft_of(composed, zone, now)
            key = editing.new_key("console", now)
            if "campaign" not in errors:
                add_problems(
                    errors,
                    editing.check_draft(
                        session, composed.campaign, key, draft, now=now, source=editing.CONSOLE
                    ),
                )
            if errors or form["action"] != "save":
                return None, _context(session, composed, page, zone, errors)
            try:
                post = editing.create_post(
                    session,
                    composed.campaign,
                    key,
                    draft,
                    actor=user.email,
                    now=now,
                    source=editing.CONSOLE,
                )
            except SpecError as error:  # the accounts changed since the check
                add_problems(errors, error.problems)
                return None, _context(session, composed, page, zone, errors)
            except PostExists as error:
                errors["form"] = [str(error)]
                return None, _context(session, composed, page, zone, errors)
            return post.id, {
                "label": f"{post.campaign.slug}/{post.key}",
                "awaiting": post.requires_approval,
            }

    post_id, context = await run_in_threadpool(act)
    if post_id is not None:
        if context["awaiting"]:
            flash(
                request,
                f"Saved {context['label']}: it awaits approval by an approver other than you.",
            )
        else:
            flash(request, f"Scheduled {context['label']}.")
        return see_other(f"/console/posts/{post_id}")
    status = 400 if context["errors"] and form["action"] == "save" else 200
    return render(request, "compose.html", context, status)


def _started_page(request: Request, post_id: int) -> Response:
    flash(
        request,
        "This post has started going out, so it can no longer be edited: here is what went out.",
    )
    return see_other(f"/console/posts/{post_id}")


async def edit_page(request: Request) -> Response:
    post_id = int(request.path_params["post_id"])
    runtime = runtime_of(request)
    reader = reader_of(request)

    def load() -> dict[str, Any] | str:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return "missing"
            if started(post):
                return "started"
            if not embargo.may_read(post, reader, now_of(request)):
                return "embargoed"
            page = Page(
                "edit",
                f"/console/posts/{post_id}/edit",
                post_id,
                f"{post.campaign.slug}/{post.key}",
            )
            return _context(session, _from_post(post), page, post.campaign.timezone, {})

    context = await run_in_threadpool(load)
    if context == "missing":
        return _missing(request, post_id)
    if context == "started":
        return _started_page(request, post_id)
    if context == "embargoed":
        return _embargoed(request)
    assert isinstance(context, dict)
    return render(request, "compose.html", context)


def _embargoed(request: Request) -> Response:
    return message(
        request,
        403,
        "Embargoed statement",
        "This statement is embargoed until its time: only its author and approvers can read "
        "or change it before then.",
    )


def _missing(request: Request, post_id: int) -> Response:
    return message(request, 404, "No such post", f"There is no post {post_id}; see the posts list.")


async def edit_post(request: Request) -> Response:
    post_id = int(request.path_params["post_id"])
    form = await read_form(request)
    runtime = runtime_of(request)
    user = user_of(request)
    reader = reader_of(request)
    now = now_of(request)

    def act() -> tuple[str, dict[str, Any]]:
        with runtime.sessions() as session:
            post = editing.load_post(session, str(post_id))
            if post is None:
                return "missing", {}
            if started(post):
                return "started", {}
            if not embargo.may_read(post, reader, now):
                return "embargoed", {}
            label = f"{post.campaign.slug}/{post.key}"
            page = Page("edit", f"/console/posts/{post_id}/edit", post_id, label)
            zone = post.campaign.timezone
            composed = Composed.from_form(form, post.campaign.slug)
            if _apply_buttons(form, composed):
                return "form", _context(session, composed, page, zone, {})
            targets = _edited_targets(post, composed)
            draft, errors = draft_of(composed, zone, now, targets)
            if (
                post.requires_approval
                and not composed.requires_approval
                and not user.role.allows(Role.APPROVER)
            ):
                errors.setdefault("requires_approval", []).append(
                    "only an approver can take the approval requirement off a post"
                )
            add_problems(
                errors, editing.check_draft(session, post.campaign.slug, post.key, draft, now=now)
            )
            if errors or form["action"] != "save":
                return "form", _context(session, composed, page, zone, errors)
            try:
                result = editing.edit_post(session, post, draft, actor=user.email, now=now)
            except PostStarted:
                return "started", {}
            except SpecError as error:
                add_problems(errors, error.problems)
                return "form", _context(session, composed, page, zone, errors)
            return "saved", {
                "label": label,
                "changed": result.changed,
                "note": result.note,
                "awaiting": result.post.requires_approval,
            }

    outcome, context = await run_in_threadpool(act)
    if outcome == "missing":
        return _missing(request, post_id)
    if outcome == "started":
        return _started_page(request, post_id)
    if outcome == "embargoed":
        return _embargoed(request)
    if outcome == "saved":
        text = f"Saved {context['label']}." if context["changed"] else "Nothing was changed."
        if context["changed"] and context["awaiting"]:
            text += " It awaits approval again."
        if context["note"]:
            text += f" Note: {context['note']}."
        flash(request, text)
        return see_other(f"/console/posts/{post_id}")
    status = 400 if context["errors"] and form["action"] == "save" else 200
    return render(request, "compose.html", context, status)


async def check(request: Request) -> Response:
    """Counts and the preview for console.js: the same functions as the page uses."""
    form = await read_form(request)
    composed = Composed.from_form(form, form["campaign"].strip() or DEFAULT_CAMPAIGN)
    template = console_of(request).templates.env.get_template("compose_preview.html")
    html = template.render(
        preview=preview_of(composed),
        x_name=form["x_name"] or "@account",
        facebook_name=form["facebook_name"] or "Your Page",
    )
    return JSONResponse({**_counts(full_preview(composed)), "preview": html})


ROUTES: list[ConsoleRoute] = [
    route("/posts/new", new_page, role=Role.EDITOR, name="compose"),
    route("/posts/new", new_post, role=Role.EDITOR, methods=("POST",), name="compose_post"),
    route("/posts/check", check, role=Role.EDITOR, methods=("POST",), name="compose_check"),
    route("/posts/{post_id:int}/edit", edit_page, role=Role.EDITOR, name="post_edit"),
    route(
        "/posts/{post_id:int}/edit",
        edit_post,
        role=Role.EDITOR,
        methods=("POST",),
        name="post_edit_post",
    ),
]
