"""The supporter's private page, reached by the withdraw link {WEB_BASE_URL}/w/{secret}:
what will be posted, from which account, when; edit the wording or email; withdraw.

GET  /w/{secret}           the confirmation (also right after pledging, with ?new=1)
POST /w/{secret}/edit      (CSRF, rate-limited) change wording and/or email
POST /w/{secret}           (CSRF, rate-limited) withdraw: tokens and email are deleted
GET  /c/{slug}/thanks      after pledging several Facebook Pages: a link for each

The secret is never stored (only its SHA-256); pages under /w/ send no Referer
(security.SECURITY_HEADERS) so the secret does not leak to other sites.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.pledges import pledging, texts
from bot.storage.models import PledgeCampaignState, PledgeState
from bot.web import signins
from bot.web.campaign import PLATFORM_NAMES, forget_page
from bot.web.pages import base_url, friendly, now_of, render, runtime_of
from bot.web.security import Refused, checked_form, field, rate_limited


@dataclass(frozen=True)
class PledgeView:
    secret: str
    slug: str
    title: str
    platform: str
    handle: str
    text: str  # exactly what will be posted
    wording: str  # the text before the link, for the edit box
    link: str | None  # attached to the post (Facebook); on X it is inside ``text``
    release_local: datetime
    timezone: str
    state: str
    has_email: bool
    can_change: bool
    allow_edit: bool
    goal_missed: bool = False  # nothing goes out; tokens and email were already deleted


def _unknown() -> Refused:
    return Refused(
        404,
        "This link does not match a pledge",
        "It may have been withdrawn already, or replaced by a newer link if you pledged "
        "the same account again.",
    )


def pledge_view(session: Session, secret: str, now: datetime) -> PledgeView:
    pledge = pledging.pledge_by_secret(session, secret)
    if pledge is None:
        raise _unknown()
    pc = pledge.pledge_campaign
    platform = pledge.platform
    link = texts.tagged_link(pc, platform)
    wording = texts.base_text(pc, platform, pledge.variant, pledge.wording)
    open_ = pledging.is_open(pc, now)
    return PledgeView(
        secret=secret,
        slug=pc.campaign.slug,
        title=pc.campaign.title or pc.campaign.slug,
        platform=platform,
        handle=pledge.account.handle if pledge.account is not None else "",
        text=texts.as_posted(platform, wording, link),
        wording=wording,
        link=link if platform != "x" else None,
        release_local=pc.release_at.astimezone(ZoneInfo(pc.timezone)),
        timezone=pc.timezone,
        state=pledge.state,
        has_email=bool(pledge.email),
        can_change=open_ and pledge.state != PledgeState.WITHDRAWN,
        allow_edit=pc.allow_edit,
        goal_missed=pc.state == PledgeCampaignState.GOAL_MISSED,
    )


def _show(
    request: Request, view: PledgeView, *, error: str = "", refused: str = "", status: int = 200
) -> Response:
    """``refused`` names the field ("wording" or "email") the error is about, so the page
    marks it invalid and ties it to the message for screen readers."""
    context = {
        "p": view,
        "platform_names": PLATFORM_NAMES,
        "new": request.query_params.get("new") == "1",
        "saved": request.query_params.get("saved") == "1",
        "error": error,
        "refused": refused,
        "private_url": f"{base_url(request)}/w/{view.secret}",
    }
    return render(request, "pledge.html", context, status)


async def show(request: Request) -> Response:
    secret = request.path_params["secret"]
    runtime, now = runtime_of(request), now_of(request)

    def read() -> PledgeView:
        with runtime.sessions() as session:
            return pledge_view(session, secret, now)

    return _show(request, await run_in_threadpool(read))


async def edit(request: Request) -> Response:
    fields = await checked_form(request)
    secret = request.path_params["secret"]
    runtime, now = runtime_of(request), now_of(request)
    # None leaves a field as it is: an empty email box keeps the address on file, the
    # "delete it" box removes it; an empty wording box goes back to the campaign's text.
    wording = field(fields, "wording") if "wording" in fields else None
    typed = field(fields, "email").strip()
    email = "" if field(fields, "email_delete") == "yes" else (typed or None)

    def change() -> PledgeView | tuple[PledgeView, str, str]:
        with runtime.sessions() as session:
            if pledging.pledge_by_secret(session, secret) is None:
                raise _unknown()
            try:
                pledging.edit_pledge(
                    session, runtime.vault, secret, wording=wording, email=email, now=now
                )
            except pledging.PledgeError as exc:
                session.rollback()
                view = pledge_view(session, secret, now)
                if str(exc).startswith("that email"):
                    return view, str(exc), "email"
                # the refused wording goes back in the box, to shorten rather than retype
                typed = view.wording if wording is None else wording
                return replace(view, wording=typed), str(exc), "wording"
            return pledge_view(session, secret, now)

    result = await run_in_threadpool(change)
    if isinstance(result, tuple):
        view, error, refused = result
        return _show(request, view, error=error, refused=refused, status=400)
    return RedirectResponse(f"/w/{secret}?saved=1", status_code=303)


async def withdraw_pledge(request: Request) -> Response:
    fields = await checked_form(request)
    secret = request.path_params["secret"]
    runtime, now = runtime_of(request), now_of(request)
    if field(fields, "confirm") != "yes":

        def read() -> PledgeView:
            with runtime.sessions() as session:
                return pledge_view(session, secret, now)

        view = await run_in_threadpool(read)
        return _show(request, view, error="Tick the box to confirm the withdrawal.", status=400)

    def remove() -> tuple[bool, PledgeView]:
        with runtime.sessions() as session:
            view = pledge_view(session, secret, now)
            return pledging.withdraw(session, secret, now), view

    done, view = await run_in_threadpool(remove)
    if done:
        forget_page(request, view.slug)
        return render(request, "withdrawn.html", {"p": view})
    if view.state == PledgeState.WITHDRAWN:
        return friendly(request, 200, "Already withdrawn", "Nothing will be posted from it.")
    return friendly(
        request,
        409,
        "Too late to withdraw",
        "The release has started, so this pledge can no longer be withdrawn.",
    )


async def thanks(request: Request) -> Response:
    slug = request.path_params["slug"]
    runtime, now = runtime_of(request), now_of(request)
    pledged = signins.take_pledged(request, slug, now)  # shown once, then gone
    if not pledged:
        return RedirectResponse(f"/c/{quote(slug)}", status_code=303)

    def read() -> list[PledgeView]:
        views = []
        with runtime.sessions() as session:
            for secret in pledged[: signins.MAX_PAGES_PER_PICK]:
                try:
                    views.append(pledge_view(session, str(secret), now))
                except Refused:
                    continue
        return views

    views = await run_in_threadpool(read)
    return render(request, "thanks.html", {"views": views, "platform_names": PLATFORM_NAMES})


def routes() -> list[BaseRoute]:
    return [
        Route("/w/{secret}", show, methods=["GET"]),
        Route("/w/{secret}", rate_limited(withdraw_pledge), methods=["POST"]),
        Route("/w/{secret}/edit", rate_limited(edit), methods=["POST"]),
        Route("/c/{slug}/thanks", thanks, methods=["GET"]),
    ]
