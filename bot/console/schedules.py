"""Schedule files in the browser: paste or upload YAML, see the dry run, apply it.

GET  /console/schedules           the form (editor)
POST /console/schedules/check     the dry run: what would be created, updated, left
                                  unchanged, and every problem with its line (editor)
POST /console/schedules/apply     apply what was previewed, all or nothing (editor)
GET  /console/schedules/export    a campaign's pending posts as a schedule file (viewer)

The same code as `python main.py apply` reads and stores the file
(bot.campaigns.schedules.applying). The confirmation form carries the text itself and
its SHA-256 and the dry run's fingerprint: the apply refuses a text that is not the one
previewed, and stores nothing if applying would now do something else than the dry run
showed (someone changed a post meanwhile).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from bot.campaigns.enqueue import StartedMeanwhile
from bot.campaigns.schedules.applying import (
    MAX_SCHEDULE_BYTES,
    ScheduleOutcome,
    applied_summary,
    apply_schedules,
    plain_lines,
    source_from_bytes,
    text_digest,
)
from bot.campaigns.schedules.export import UnknownCampaign, export_campaign
from bot.campaigns.specs import Location, Problem, SpecError
from bot.console.pages import (
    Form,
    NavItem,
    flash,
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
from bot.console.routing import route
from bot.people import audit
from bot.web.security import CSRF_FIELD, Refused, refuse_nul

logger = logging.getLogger(__name__)

PASTED = "pasted text"
# An uploaded file keeps its own name in problems ("demo.yaml:12"); anything else in the
# name a browser sends (folders, odd characters) is dropped.
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


@dataclass(frozen=True)
class Checked:
    """A dry run as the page shows it."""

    name: str
    text: str
    outcome: ScheduleOutcome | None
    problems: list[Problem]


def _file_name(raw: str) -> str:
    name = _SAFE_NAME.sub("", Path(raw.replace("\\", "/")).name).strip()[:80]
    return name or "uploaded file"


def _folder(request: Request) -> Path:
    # Pictures named in pledge campaigns are looked for where `apply` looks: the
    # schedules folder on the server.
    return Path(runtime_of(request).settings.schedules_dir)


@dataclass(frozen=True)
class Submitted:
    """What the check form sent: its fields, and the uploaded file (name, bytes) if any."""

    form: Form
    upload: tuple[str, bytes] | None


async def _multipart(request: Request) -> Submitted:
    """An upload form, once its CSRF field matches (urlencoded forms go to read_form)."""
    # max_part_size bounds the pasted text; a file part is read below with its own limit.
    parsed = await request.form(max_files=1, max_fields=8, max_part_size=MAX_SCHEDULE_BYTES * 3)
    fields: dict[str, list[str]] = {}
    upload = None
    for name, value in parsed.multi_items():
        refuse_nul(name, (value.filename or "") if isinstance(value, UploadFile) else value)
        if isinstance(value, UploadFile):
            # One byte over the limit is enough for source_from_bytes to refuse it.
            data = await value.read(MAX_SCHEDULE_BYTES + 1)
            if value.filename and data:
                upload = (_file_name(value.filename), data)
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
    return Submitted(Form(fields), upload)


async def _submitted(request: Request) -> Submitted:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        return await _multipart(request)
    return Submitted(await read_form(request), None)


def _dry_run(request: Request, name: str, data: bytes) -> Checked:
    runtime = runtime_of(request)
    settings = runtime.settings
    text = plain_lines(data.decode("utf-8", "replace"))
    try:
        source = source_from_bytes(data, name=name, folder=_folder(request))
        text = source.text or text
        with runtime.sessions() as session:
            outcome = apply_schedules(
                session,
                [source],
                now=now_of(request),
                default_timezone=settings.timezone,
                default_window=settings.release_window_minutes,
                dry_run=True,
                reader=reader_of(request),
            )
    except SpecError as exc:
        return Checked(name, text, None, exc.problems)
    except StartedMeanwhile as exc:
        return Checked(name, text, None, [_problem(name, str(exc))])
    return Checked(name, text, outcome, [])


def _problem(name: str, message: str) -> Problem:
    return Problem(Location(name), "file", "", message)


def _context(request: Request, checked: Checked, **extra: Any) -> dict[str, Any]:
    outcome = checked.outcome
    return {
        "checked": checked,
        "outcome": outcome,
        "text_sha256": text_digest(checked.text),
        "plan_sha256": outcome.digest() if outcome is not None else "",
        "max_kb": MAX_SCHEDULE_BYTES // 1024,
        "changed_since": False,
        **extra,
    }


async def schedules_page(request: Request) -> Response:
    return render(
        request,
        "schedules.html",
        {
            "max_kb": MAX_SCHEDULE_BYTES // 1024,
            "export_campaign": picked_campaign(request),
            "text": "",
            "error": "",
        },
    )


async def check(request: Request) -> Response:
    submitted = await _submitted(request)
    form = submitted.form
    if submitted.upload is not None:
        name, data = submitted.upload
    else:
        # Checked again from the dry run page: it keeps the name of the file it came from.
        name = _file_name(form["name"]) if form["name"] else PASTED
        data = form["text"].encode("utf-8")
    if not data.strip():
        return render(
            request,
            "schedules.html",
            {
                "max_kb": MAX_SCHEDULE_BYTES // 1024,
                "export_campaign": picked_campaign(request),
                "text": "",
                "error": "Paste a schedule file into the box, or choose a file to upload.",
            },
            status=400,
        )
    checked = await run_in_threadpool(_dry_run, request, name, data)
    status = 400 if checked.problems else 200
    return render(request, "schedules_check.html", _context(request, checked), status=status)


async def apply(request: Request) -> Response:
    form = await read_form(request)
    text, name = plain_lines(form["text"]), form["name"] or PASTED
    if not secrets.compare_digest(text_digest(text), form["text_sha256"]):
        raise Refused(
            400,
            "This is not the text you checked",
            "The schedule sent to apply is not the one the dry run showed, so nothing was "
            "stored. Go back to Schedule files and check it again.",
        )
    user = user_of(request)
    reader = reader_of(request)
    runtime = runtime_of(request)
    settings = runtime.settings
    data = text.encode("utf-8")

    def run() -> tuple[Checked, bool]:
        try:
            source = source_from_bytes(data, name=name, folder=_folder(request))
            with runtime.sessions() as session:
                outcome = apply_schedules(
                    session,
                    [source],
                    now=now_of(request),
                    default_timezone=settings.timezone,
                    default_window=settings.release_window_minutes,
                    dry_run=False,
                    author=user.email,
                    reader=reader,
                )
                if outcome.digest() != form["plan_sha256"]:
                    session.rollback()
                    return Checked(name, text, outcome, []), False
                audit.record(
                    session,
                    actor=user.email,
                    action="schedule.apply",
                    subject=f"schedule:{name}",
                    after={"sha256": form["text_sha256"], **applied_summary(outcome)},
                )
                session.commit()
        except SpecError as exc:
            return Checked(name, text, None, exc.problems), False
        except StartedMeanwhile as exc:
            return Checked(name, text, None, [_problem(name, str(exc))]), False
        return Checked(name, text, outcome, []), True

    checked, done = await run_in_threadpool(run)
    if not done:
        # Things changed since the dry run: show the new one, to confirm again.
        fresh = await run_in_threadpool(_dry_run, request, name, data)
        return render(
            request,
            "schedules_check.html",
            _context(
                request,
                fresh,
                changed_since=True,
            ),
            status=409,
        )
    assert checked.outcome is not None
    posts = checked.outcome.posts
    logger.info("%s applied schedule %s", user.email, name)
    flash(
        request,
        f"Applied {name}: {len(posts.created)} created, {len(posts.updated)} updated, "
        f"{len(posts.unchanged)} unchanged.",
    )
    return see_other("/console/schedules")


async def export(request: Request) -> Response:
    slug = request.query_params.get("campaign", "").strip() or picked_campaign(request)
    if not slug:
        raise Refused(
            400, "Pick a campaign", "Choose the campaign whose posts to download, then try again."
        )
    runtime = runtime_of(request)

    def run() -> str:
        with runtime.sessions() as session:
            try:
                reader = reader_of(request)
                return export_campaign(session, slug, reader=reader, now=now_of(request)).text
            except UnknownCampaign as exc:
                raise Refused(404, "No such campaign", str(exc).capitalize() + ".") from None

    text = await run_in_threadpool(run)
    return Response(
        text,
        media_type="application/yaml; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{slug}.yaml"'},
    )


ROUTES = [
    route("/schedules", schedules_page, role=Role.EDITOR, name="schedules"),
    route("/schedules/check", check, role=Role.EDITOR, methods=("POST",), name="schedules_check"),
    route("/schedules/apply", apply, role=Role.EDITOR, methods=("POST",), name="schedules_apply"),
    route("/schedules/export", export, role=Role.VIEWER, name="schedules_export"),
]
NAV = [NavItem("Schedule files", "/schedules", Role.EDITOR)]
