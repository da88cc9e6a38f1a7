"""Pledge campaigns in the console: the list, create and edit (every `pledges create/edit`
option, through the same PledgeCampaignSpec and checks), a campaign's page with its
`release check` findings and share links, an approver's release controls (hold, resume,
cancel, stop) and the live release status page.

GET  /console/pledges                          the list (viewer)
GET  /console/pledges/new  POST                create (editor)
GET  /console/pledges/{slug}                   the campaign page (viewer)
GET  /console/pledges/{slug}/edit  POST        edit (editor)
GET  /console/pledges/{slug}/release/{control} POST   hold|resume|cancel|stop (approver)
GET  /console/pledges/{slug}/status            the live release status (viewer)
GET  /console/pledges/{slug}/status/events     its server-sent events (viewer)

The status page updates through server-sent events (static/pledges.js) and, without
JavaScript, through a ``<meta http-equiv=refresh>``. However many people watch, a
campaign's status is read from the database at most once per STATUS_EVERY_SECONDS
(``StatusFeed``), and each stream ends when the release is final or after
STREAM_MINUTES (the browser then reconnects).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from bot.campaigns.schedules.times import TimeProblem, parse_time, zone
from bot.campaigns.specs import PLATFORMS, Problem, SpecError
from bot.console.pages import (
    Form,
    NavItem,
    base_url_of,
    flash,
    in_zone,
    message,
    now_of,
    read_form,
    render,
    runtime_of,
    see_other,
    user_of,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.people import audit
from bot.pledges import controls, rules
from bot.pledges import release as releases
from bot.pledges.campaigns import (
    MAX_GOAL,
    MAX_WINDOW_MINUTES,
    PLATFORM_NAMES,
    CampaignReport,
    PledgeCampaignSpec,
    apply_campaigns,
    audit_view,
)
from bot.pledges.cutoff import find_campaign
from bot.pledges.images import MAX_BYTES, CampaignImage, ImageProblem, from_bytes
from bot.pledges.progress import progress
from bot.runtime.wiring import Runtime
from bot.storage.models import (
    Campaign,
    DeliveryState,
    GoalPolicy,
    PledgeCampaign,
    PledgeCampaignState,
)
from bot.web.security import CSRF_FIELD, Refused, refuse_nul

logger = logging.getLogger(__name__)

POLICY_CHOICE = {
    "post-nothing": GoalPolicy.ALL_OR_NOTHING,
    "release-anyway": GoalPolicy.RELEASE_ANYWAY,
}
POLICY_NAME: dict[str, str] = {str(v): k for k, v in POLICY_CHOICE.items()}
EMPTY_VARIANTS = 3  # blank variant fields offered on the form (no JavaScript needed)
STATUS_EVERY_SECONDS = 1.0
STREAM_MINUTES = 10
REFRESH_SECONDS = 5  # the page's own refresh without JavaScript
FINAL = (
    PledgeCampaignState.RELEASED,
    PledgeCampaignState.STOPPED,
    PledgeCampaignState.GOAL_MISSED,
    PledgeCampaignState.CANCELLED,
)
CONTROL_TEXT = {
    controls.Control.HOLD: "Hold the release",
    controls.Control.RESUME: "Resume the release",
    controls.Control.CANCEL: "Cancel the release",
    controls.Control.STOP: "Stop the release",
}


# -- the form ----------------------------------------------------------------------------


@dataclass
class Errors:
    """Problems by form field, in the CLI's words."""

    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.by_field.setdefault(name, []).append(text)

    def __bool__(self) -> bool:
        return bool(self.by_field)


def form_field(problem: Problem) -> str:
    """The form field a spec problem is about (check_spec's names → the form's)."""
    name = problem.field
    if name == "id":
        return "slug"
    if name == "text" and problem.platform:
        return f"text_{problem.platform}"
    if name.startswith("text."):
        return "text_" + name.split(".", 1)[1]
    if name.startswith("variants["):
        return "variant-" + name[len("variants[") : -1]
    return name


def _problem_text(problem: Problem) -> str:
    value = problem.value if len(problem.value) <= 60 else problem.value[:57] + "..."
    return f"{value!r}: {problem.message}" if value else problem.message


@dataclass
class Submitted:
    form: Form
    image: tuple[str, bytes] | None


async def submitted(request: Request) -> Submitted:
    """The campaign form (multipart, for its picture), once its CSRF field matches."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "multipart/form-data":
        return Submitted(await read_form(request), None)
    parsed = await request.form(max_files=1, max_fields=60, max_part_size=64 * 1024)
    fields: dict[str, list[str]] = {}
    image = None
    for name, value in parsed.multi_items():
        refuse_nul(name, (value.filename or "") if isinstance(value, UploadFile) else value)
        if isinstance(value, UploadFile):
            data = await value.read(MAX_BYTES + 1)  # one byte over: from_bytes refuses it
            if value.filename and data:
                image = (Path(value.filename.replace("\\", "/")).name[:80], data)
            continue
        fields.setdefault(name, []).append(value)
    sent = (fields.get(CSRF_FIELD) or [""])[0]
    expected = request.session.get(CSRF_FIELD)
    if not sent or not isinstance(expected, str) or not secrets.compare_digest(sent, expected):
        raise Refused(
            403,
            "This form has expired",
            "For your safety we only accept forms sent from this site in the last few "
            "hours. Please go back, reload the page and try again.",
        )
    return Submitted(Form(fields), image)


def _whole_number(written: str, low: int, high: int) -> int | None:
    """``written`` as a whole number from ``low`` to ``high``; None otherwise. ASCII digits
    only: int() also reads other scripts' digits and any length, which a database
    column cannot hold."""
    text = written.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def stored_image(pc: PledgeCampaign) -> CampaignImage | None:
    if pc.image_sha256 is None or pc.image_data is None or pc.image_type is None:
        return None
    return CampaignImage(
        pc.image_data,
        pc.image_type,
        pc.image_width or 0,
        pc.image_height or 0,
        pc.image_sha256,
        pc.image_path or "",
    )


def values_of(pc: PledgeCampaign | None, default_tz: str) -> dict[str, Any]:
    """The form's values for a campaign (or a new one)."""
    if pc is None:
        return {
            "slug": "",
            "title": "",
            "description": "",
            "platforms": list(PLATFORMS),
            "text": "",
            **{f"text_{p}": "" for p in PLATFORMS},
            "variants": [""] * EMPTY_VARIANTS,
            "link": "",
            "goal": "",
            "release": "",
            "tz": default_tz,
            "window": "",
            "if_goal_missed": "post-nothing",
            "allow_edit": True,
            "image_alt": "",
            "has_image": False,
        }
    texts = set(pc.message.values())
    same = len(texts) == 1
    local = pc.release_at.astimezone(zone(pc.timezone))
    return {
        "slug": pc.campaign.slug,
        "title": pc.campaign.title,
        "description": pc.description,
        "platforms": list(pc.message),
        "text": next(iter(texts)) if same else "",
        **{f"text_{p}": "" if same else pc.message.get(p, "") for p in PLATFORMS},
        "variants": [*pc.variants, *[""] * EMPTY_VARIANTS],
        "link": pc.link or "",
        "goal": str(pc.goal),
        "release": f"{local:%Y-%m-%dT%H:%M}",
        "tz": pc.timezone,
        "window": str(pc.window_minutes),
        "if_goal_missed": POLICY_NAME.get(pc.goal_policy, "post-nothing"),
        "allow_edit": pc.allow_edit,
        "image_alt": pc.image_alt or "",
        "has_image": pc.image_sha256 is not None,
    }


def values_from(form: Form, has_image: bool) -> dict[str, Any]:
    """The form's values as sent, to show again beside its problems."""
    variants = [v for v in form.all("variant") if v.strip()]
    return {
        "slug": form["slug"].strip(),
        "title": form["title"],
        "description": form["description"],
        "platforms": form.all("platforms"),
        "text": form["text"],
        **{f"text_{p}": form[f"text_{p}"] for p in PLATFORMS},
        "variants": [*variants, *[""] * EMPTY_VARIANTS],
        "link": form["link"],
        "goal": form["goal"],
        "release": form["release"],
        "tz": form["tz"],
        "window": form["window"],
        "if_goal_missed": form["if_goal_missed"],
        "allow_edit": form["allow_edit"] == "yes",
        "image_alt": form["image_alt"],
        "has_image": has_image,
    }


def spec_from_form(
    slug: str,
    base: PledgeCampaign | None,
    sent: Submitted,
    errors: Errors,
) -> PledgeCampaignSpec | None:
    """The spec `pledges create/edit` would make from the same answers; problems that
    come before the spec (a time that does not parse, a picture that is not one) go into
    ``errors``. The form always carries every field, so nothing is "kept" implicitly
    except the stored picture."""
    form = sent.form
    tz_name = form["tz"].strip()
    release_at: datetime | None = None
    try:
        tz = zone(tz_name)
    except TimeProblem as exc:
        errors.add("tz", str(exc))
        tz = None
    raw = form["release"].strip().replace("T", " ")
    if not raw:
        errors.add("release", "give the release time, e.g. 2027-03-09 08:30")
    elif tz is not None:
        try:
            release_at = parse_time(raw, tz).astimezone(UTC)
        except TimeProblem as exc:
            errors.add("release", str(exc))
    platforms = [p for p in form.all("platforms") if p]
    if not platforms:
        errors.add("platforms", "choose where supporters can pledge: X, Facebook or both")
    message: dict[str, str] = {}
    for platform in platforms:
        own = form[f"text_{platform}"]
        text = own if own.strip() else form["text"]
        if text.strip():
            message[platform] = text
        else:
            errors.add(
                "text",
                f"no text for {PLATFORM_NAMES.get(platform, platform)}: write the message "
                "(or that platform's own text)",
            )
    goal = _whole_number(form["goal"], 1, MAX_GOAL)
    if goal is None:
        errors.add("goal", f"the goal is a number of supporters, 1 to {MAX_GOAL:,}, e.g. 500")
    window: int | None = None
    if form["window"].strip():
        window = _whole_number(form["window"], 0, MAX_WINDOW_MINUTES)
        if window is None:
            errors.add(
                "window", f"the release window is a number of minutes, 0 to {MAX_WINDOW_MINUTES}"
            )
    policy = POLICY_CHOICE.get(form["if_goal_missed"])
    if policy is None:
        errors.add("if_goal_missed", f"use one of: {', '.join(POLICY_CHOICE)}")
    image: CampaignImage | None = None
    alt = form["image_alt"]
    if sent.image is not None:
        name, data = sent.image
        try:
            image = from_bytes(data, name)
        except ImageProblem as exc:
            errors.add("image", f"{name}: {exc}")
        if not alt.strip():
            errors.add(
                "image_alt",
                "describe the picture for people who cannot see it, e.g. 'Union reps "
                "holding a banner outside the Fujitsu office'",
            )
    elif base is not None and form["remove_image"] != "yes":
        image = stored_image(base)
    if image is None and sent.image is None and form["remove_image"] == "yes":
        alt = ""
    if errors or release_at is None or goal is None or policy is None:
        return None
    return PledgeCampaignSpec(
        slug=slug,
        title=form["title"],
        description=form["description"],
        message=message,
        variants=tuple(v for v in form.all("variant") if v.strip()),
        link=form["link"].strip() or None,
        image=image,
        image_alt=alt,
        goal=goal,
        release_at=release_at,
        timezone=tz_name,
        goal_policy=policy,
        window_minutes=window,
        allow_edit=form["allow_edit"] == "yes",
    )


def save(
    runtime: Runtime, spec: PledgeCampaignSpec, *, actor: str, now: datetime, creating: bool
) -> tuple[CampaignReport | None, Errors]:
    """Store the spec through apply_campaigns (all its checks) with its audit entry."""
    errors = Errors()
    with runtime.sessions() as session:
        if creating and find_campaign(session, spec.slug) is not None:
            errors.add("slug", f"{spec.slug!r} exists; open it from the list to edit it")
            return None, errors
        try:
            report = apply_campaigns(
                session,
                [spec],
                now=now,
                default_window=runtime.settings.release_window_minutes,
                commit=False,
            )
        except SpecError as exc:
            for problem in exc.problems:
                errors.add(form_field(problem), _problem_text(problem))
            return None, errors
        if report.created or report.updated:
            audit.record(
                session,
                actor=actor,
                action="pledge_campaign.create" if creating else "pledge_campaign.edit",
                subject=f"pledge_campaign:{spec.slug}",
                after=audit_view(spec),
                at=now,
            )
        session.commit()
    return report, errors


# -- views -------------------------------------------------------------------------------


def _slug(request: Request) -> str:
    return str(request.path_params["slug"])


def _no_campaign(request: Request, slug: str) -> Response:
    return message(
        request,
        404,
        "No such pledge campaign",
        f"There is no pledge campaign {slug!r}. See the list of pledge campaigns.",
    )


async def list_page(request: Request) -> Response:
    runtime = runtime_of(request)
    now = now_of(request)

    def load() -> list[dict[str, Any]]:
        rows = []
        with runtime.sessions() as session:
            for pc in session.scalars(
                select(PledgeCampaign).join(Campaign).order_by(PledgeCampaign.release_at.desc())
            ):
                p = progress(session, pc, now)
                rows.append(
                    {
                        "slug": pc.campaign.slug,
                        "title": pc.campaign.title,
                        "state": pc.state,
                        "release": in_zone(pc.release_at, pc.timezone),
                        "pledged": p.pledged,
                        "goal": p.goal,
                        "reach": p.pledged_reach,
                    }
                )
        return rows

    rows = await run_in_threadpool(load)
    may_create = user_of(request).role.allows(Role.EDITOR)
    return render(request, "pledges_list.html", {"rows": rows, "may_create": may_create})


def _form_page(
    request: Request,
    *,
    mode: str,
    values: dict[str, Any],
    errors: Errors | None = None,
    status: int = 200,
) -> Response:
    slug = values["slug"]
    return render(
        request,
        "pledges_form.html",
        {
            "mode": mode,
            "action": "/console/pledges/new"
            if mode == "create"
            else f"/console/pledges/{slug}/edit",
            "form": values,
            "errors": errors.by_field if errors else {},
            "platforms": [(p, PLATFORM_NAMES.get(p, p)) for p in PLATFORMS],
            "default_window": runtime_of(request).settings.release_window_minutes,
        },
        status,
    )


async def new_page(request: Request) -> Response:
    return _form_page(
        request, mode="create", values=values_of(None, runtime_of(request).settings.timezone)
    )


async def create(request: Request) -> Response:
    sent = await submitted(request)
    runtime = runtime_of(request)
    slug = sent.form["slug"].strip()
    errors = Errors()
    spec = spec_from_form(slug, None, sent, errors)
    values = values_from(sent.form, has_image=False)
    if spec is None:
        return _form_page(request, mode="create", values=values, errors=errors, status=400)
    report, errors = await run_in_threadpool(
        save, runtime, spec, actor=user_of(request).email, now=now_of(request), creating=True
    )
    if report is None:
        return _form_page(request, mode="create", values=values, errors=errors, status=400)
    flash(request, f"Created the pledge campaign {slug}: its page is /c/{slug}.")
    for note in report.notes:
        flash(request, note)
    return see_other(f"/console/pledges/{quote(slug)}")


async def edit_page(request: Request) -> Response:
    slug = _slug(request)
    runtime = runtime_of(request)

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            return {"values": values_of(pc, pc.timezone), "state": pc.state}

    loaded = await run_in_threadpool(load)
    if loaded is None:
        return _no_campaign(request, slug)
    if loaded["state"] not in PledgeCampaignState.TAKING_PLEDGES:
        return message(
            request,
            409,
            "This campaign can no longer be changed",
            f"{slug} is {loaded['state'].replace('_', ' ')}: a campaign cannot change once "
            "its release has started.",
        )
    return _form_page(request, mode="edit", values=loaded["values"])


async def edit(request: Request) -> Response:
    slug = _slug(request)
    sent = await submitted(request)
    runtime = runtime_of(request)

    def build() -> tuple[PledgeCampaignSpec | None, Errors, bool] | None:
        errors = Errors()
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            spec = spec_from_form(slug, pc, sent, errors)
            return spec, errors, pc.image_sha256 is not None

    built = await run_in_threadpool(build)
    if built is None:
        return _no_campaign(request, slug)
    spec, errors, has_image = built
    values = {**values_from(sent.form, has_image), "slug": slug}
    if spec is None:
        return _form_page(request, mode="edit", values=values, errors=errors, status=400)
    report, errors = await run_in_threadpool(
        save, runtime, spec, actor=user_of(request).email, now=now_of(request), creating=False
    )
    if report is None:
        return _form_page(request, mode="edit", values=values, errors=errors, status=400)
    if report.unchanged:
        flash(request, f"Nothing changed in {slug}.")
    elif report.kept:
        flash(request, f"{slug}'s release has started: it was kept as it is.")
    else:
        flash(request, f"Saved the changes to {slug}.")
    for note in report.notes:
        flash(request, note)
    return see_other(f"/console/pledges/{quote(slug)}")


def share_links(url: str, title: str) -> list[tuple[str, str]]:
    """Plain share links (no third-party scripts): each platform's own share address."""
    text = f"{title} {url}"
    return [
        ("X", "https://x.com/intent/post?" + urlencode({"text": title, "url": url})),
        ("Facebook", "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url})),
        ("Bluesky", "https://bsky.app/intent/compose?" + urlencode({"text": text})),
        ("Mastodon", "https://mastodon.social/share?" + urlencode({"text": text})),
        ("WhatsApp", "https://wa.me/?" + urlencode({"text": text})),
        ("email", "mailto:?" + urlencode({"subject": title, "body": text}, quote_via=quote)),
    ]


async def show_page(request: Request) -> Response:
    slug = _slug(request)
    runtime = runtime_of(request)
    now = now_of(request)
    settings = runtime.settings

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            p = progress(session, pc, now, readiness_hours=settings.readiness_hours)
            report = rules.check(session, pc, settings)
            counts = controls.counts(session, pc)
            return {
                "pc": {
                    "slug": slug,
                    "title": pc.campaign.title,
                    "description": pc.description,
                    "state": pc.state,
                    "release": in_zone(pc.release_at, pc.timezone),
                    "timezone": pc.timezone,
                    "window": pc.window_minutes,
                    "policy": POLICY_NAME.get(pc.goal_policy, pc.goal_policy),
                    "allow_edit": pc.allow_edit,
                    "message": [(PLATFORM_NAMES.get(k, k), v) for k, v in pc.message.items()],
                    "variants": list(pc.variants),
                    "link": pc.link,
                    "image": (
                        {
                            "alt": pc.image_alt,
                            "width": pc.image_width,
                            "height": pc.image_height,
                        }
                        if pc.image_sha256
                        else None
                    ),
                    "editable": pc.state in PledgeCampaignState.TAKING_PLEDGES,
                    "has_release": counts.total > 0,
                },
                "progress": p,
                "percent": min(100, round(100 * p.pledged / p.goal)) if p.goal else 0,
                "report": report,
                "rules_lines": report.lines(),
                "deferred_until": in_zone(report.deferred_until, pc.timezone),
                "cost": rules.dollars(report.cost_usd),
                "controls": counts.allowed(now),
            }

    data = await run_in_threadpool(load)
    if data is None:
        return _no_campaign(request, slug)
    url = f"{base_url_of(request)}/c/{slug}"
    return render(
        request,
        "pledges_show.html",
        {
            **data,
            "public_url": url,
            "shares": share_links(url, data["pc"]["title"]),
            "control_text": CONTROL_TEXT,
            "may_control": user_of(request).role.allows(Role.APPROVER),
            "may_edit": user_of(request).role.allows(Role.EDITOR),
        },
    )


# -- release controls --------------------------------------------------------------------


def _control(request: Request) -> controls.Control | None:
    try:
        return controls.Control(str(request.path_params["control"]))
    except ValueError:
        return None


async def control_page(request: Request) -> Response:
    slug = _slug(request)
    control = _control(request)
    runtime = runtime_of(request)
    now = now_of(request)
    if control is None:
        return _no_campaign(request, slug)

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            counts = controls.counts(session, pc)
            local = pc.release_at.astimezone(zone(pc.timezone))
            return {
                "counts": counts,
                "release": in_zone(pc.release_at, pc.timezone),
                "release_value": f"{local:%Y-%m-%dT%H:%M}",
                "allowed": control in counts.allowed(now),
            }

    data = await run_in_threadpool(load)
    if data is None:
        return _no_campaign(request, slug)
    return render(
        request,
        "pledges_control.html",
        {
            **data,
            "slug": slug,
            "control": control.value,
            "heading": CONTROL_TEXT[control],
            "error": "",
        },
    )


async def control_post(request: Request) -> Response:
    slug = _slug(request)
    control = _control(request)
    form = await read_form(request)
    runtime = runtime_of(request)
    now = now_of(request)
    actor = user_of(request).email
    if control is None:
        return _no_campaign(request, slug)
    if form["confirm"] != "yes":
        return see_other(f"/console/pledges/{quote(slug)}")

    def act() -> str | None:
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            if control == controls.Control.HOLD:
                controls.hold(session, pc, actor=actor, now=now)
                return f"{slug}: the release is on hold; pledging stays open."
            if control == controls.Control.RESUME:
                when = None
                raw = form["release"].strip().replace("T", " ")
                if raw:
                    try:
                        when = parse_time(raw, zone(pc.timezone)).astimezone(UTC)
                    except TimeProblem as exc:
                        raise controls.ControlError(str(exc)) from None
                controls.resume(session, pc, actor=actor, now=now, release_at=when)
                return (
                    f"{slug}: the release is back on; it goes out "
                    f"{in_zone(pc.release_at, pc.timezone)}."
                )
            if control == controls.Control.CANCEL:
                pledged = controls.cancel(session, pc, actor=actor, now=now)
                return (
                    f"{slug}: the release is cancelled; nothing is posted from its {pledged} "
                    "pledges, and supporters' emails and tokens were deleted."
                )
            done = controls.stop(session, pc, actor=actor, now=now)
            return (
                f"{slug}: the release is stopped: {done.sent} went out, {done.stopped} were "
                f"stopped, {done.in_flight} were in flight (they finish)."
            )

    try:
        text = await run_in_threadpool(act)
    except controls.ControlError as exc:
        return message(request, 409, "That could not be done", str(exc))
    if text is None:
        return _no_campaign(request, slug)
    flash(request, text)
    target = "status" if control == controls.Control.STOP else ""
    return see_other(f"/console/pledges/{quote(slug)}" + (f"/{target}" if target else ""))


# -- the live status ---------------------------------------------------------------------


def read_status(runtime: Runtime, slug: str) -> dict[str, Any] | None:
    """What the status page shows, as JSON-ready data (also each event's data)."""
    with runtime.sessions() as session:
        pc = find_campaign(session, slug)
        if pc is None:
            return None
        return status_data(session, pc)


def status_data(session: Session, pc: PledgeCampaign) -> dict[str, Any]:
    st = releases.status(session, pc)
    counts = controls.counts(session, pc)
    return {
        "state": st.state,
        "state_text": str(st.state).replace("_", " "),
        "total": st.total,
        "done": st.done,
        "sent": st.sent,
        "stopped": counts.cancelled,
        "in_flight": counts.in_flight,
        "pending": counts.pending,
        "needs_reconnect": st.needs_reconnect,
        "final": st.state in FINAL,
        "by_platform": {
            platform: {state: states.get(state, 0) for state in DeliveryState}
            for platform, states in sorted(st.by_platform.items())
        },
    }


class StatusFeed:
    """A campaign's status read at most once per ``every`` seconds, shared by every viewer
    of it: each viewer asks ``latest`` once a second; the first to find the copy stale
    reads the database (holding the lock, so the others wait and take that copy)."""

    def __init__(
        self,
        read: Callable[[str], dict[str, Any] | None],
        every: float = STATUS_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.read = read
        self.every = every
        self.clock = clock
        self.reads = 0
        self._lock = threading.Lock()
        self._copies: dict[str, tuple[float, dict[str, Any] | None]] = {}

    def latest(self, slug: str) -> dict[str, Any] | None:
        """Blocking (call it in a thread): the copy, read again when stale."""
        with self._lock:
            at, copy = self._copies.get(slug, (float("-inf"), None))
            if self.clock() - at >= self.every:
                copy = self.read(slug)
                self.reads += 1
                self._copies[slug] = (self.clock(), copy)
            return copy


_FEEDS: weakref.WeakKeyDictionary[Runtime, StatusFeed] = weakref.WeakKeyDictionary()
_FEEDS_LOCK = threading.Lock()


def feed_of(runtime: Runtime) -> StatusFeed:
    """The one StatusFeed of a running console."""
    with _FEEDS_LOCK:
        feed = _FEEDS.get(runtime)
        if feed is None:
            feed = _FEEDS[runtime] = StatusFeed(lambda slug: read_status(runtime, slug))
        return feed


async def status_page(request: Request) -> Response:
    slug = _slug(request)
    runtime = runtime_of(request)

    def load() -> dict[str, Any] | None:
        with runtime.sessions() as session:
            pc = find_campaign(session, slug)
            if pc is None:
                return None
            return {
                "status": status_data(session, pc),
                "title": pc.campaign.title,
                "release": in_zone(pc.release_at, pc.timezone),
                "may_stop": controls.Control.STOP
                in controls.counts(session, pc).allowed(now_of(request)),
            }

    data = await run_in_threadpool(load)
    if data is None:
        return _no_campaign(request, slug)
    return render(
        request,
        "pledges_status.html",
        {
            **data,
            "slug": slug,
            "refresh": REFRESH_SECONDS,
            "states": list(DeliveryState),
            "platform_names": PLATFORM_NAMES,
            "may_control": user_of(request).role.allows(Role.APPROVER),
        },
    )


async def status_events(request: Request) -> Response:
    slug = _slug(request)
    runtime = runtime_of(request)
    feed = feed_of(runtime)
    first = await run_in_threadpool(feed.latest, slug)
    if first is None:
        return _no_campaign(request, slug)

    async def events() -> AsyncIterator[str]:
        ends = time.monotonic() + STREAM_MINUTES * 60
        shown: dict[str, Any] | None = None
        current: dict[str, Any] | None = first
        # The browser reconnects this long after a stream ends (the bounded stream below).
        yield f"retry: {int(REFRESH_SECONDS * 1000)}\n\n"
        while current is not None:
            if current != shown:
                yield f"event: status\ndata: {json.dumps(current)}\n\n"
                shown = current
            if current["final"]:
                yield "event: final\ndata: {}\n\n"
                return
            if time.monotonic() >= ends or await request.is_disconnected():
                return
            await asyncio.sleep(feed.every)
            current = await run_in_threadpool(feed.latest, slug)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
    )


NAV = [NavItem("Pledge campaigns", "/pledges", Role.VIEWER)]

ROUTES: list[ConsoleRoute] = [
    route("/pledges", list_page, role=Role.VIEWER, name="pledges"),
    route("/pledges/new", new_page, role=Role.EDITOR, name="pledge_new"),
    route("/pledges/new", create, role=Role.EDITOR, methods=("POST",), name="pledge_create"),
    route("/pledges/{slug}", show_page, role=Role.VIEWER, name="pledge"),
    route("/pledges/{slug}/edit", edit_page, role=Role.EDITOR, name="pledge_edit"),
    route(
        "/pledges/{slug}/edit", edit, role=Role.EDITOR, methods=("POST",), name="pledge_edit_post"
    ),
    route(
        "/pledges/{slug}/release/{control}",
        control_page,
        role=Role.APPROVER,
        name="pledge_control",
    ),
    route(
        "/pledges/{slug}/release/{control}",
        control_post,
        role=Role.APPROVER,
        methods=("POST",),
        name="pledge_control_post",
    ),
    route("/pledges/{slug}/status", status_page, role=Role.VIEWER, name="pledge_status"),
    route(
        "/pledges/{slug}/status/events",
        status_events,
        role=Role.VIEWER,
        name="pledge_status_events",
    ),
]
