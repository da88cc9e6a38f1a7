"""The supporter's private page, reached by the withdraw link {WEB_BASE_URL}/w/{secret}:
what will be posted, from which account, when; edit the wording or email; withdraw.

GET  /w/{secret}           the confirmation (also right after pledging, with ?new=1)
POST /w/{secret}/edit      (CSRF, rate-limited) change wording and/or email
POST /w/{secret}           (CSRF, rate-limited) withdraw: tokens and email are deleted;
                           a Bluesky or Mastodon token is then revoked at its network,
                           after the page is sent (bot/pledges/revocations.py)
POST /w/{secret}/email     (CSRF, rate-limited) mail the private link to the pledge's address
GET  /c/{slug}/thanks      after pledging several Facebook Pages: a link for each
GET  /c/{slug}/share/mastodon   which Mastodon server to share the campaign page on

The secret is never stored (only its SHA-256); pages under /w/ send no Referer
(security.SECURITY_HEADERS) so the secret does not leak to other sites.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.campaigns import previews as shown_as
from bot.pledges import pledging, revocations, texts
from bot.pledges.mail import Mailer, MailError, private_link_message
from bot.storage.models import PledgeCampaignState, PledgeState
from bot.web import sharing, signins
from bot.web.campaign import PLATFORM_NAMES, forget_page, load_campaign
from bot.web.pages import base_url, friendly, now_of, render, runtime_of
from bot.web.pledge_bluesky import signin_of
from bot.web.security import RateLimiter, Refused, checked_form, field, rate_limited

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PledgeView:
    secret: str
    slug: str
    title: str
    platform: str
    handle: str
    text: str  # exactly what will be posted
    shown: tuple[shown_as.Segment, ...]  # ``text`` as the platform shows it (X: display_url)
    wording: str  # the text before the link, for the edit box
    link: str | None  # attached to the post (Facebook); on X it is inside ``text``
    release_local: datetime
    timezone: str
    state: str
    has_email: bool
    can_change: bool
    allow_edit: bool
    goal_missed: bool = False  # nothing goes out; tokens and email were already deleted
    campaign_link: str | None = None  # the campaign's link as tagged for this platform

    @property
    def shown_handle(self) -> str:
        """The account as its network shows it: a Page by its name, others as @handle."""
        if not self.handle or self.platform == "facebook":
            return self.handle
        return f"@{self.handle}"


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
    posted = texts.as_posted(platform, wording, link)
    return PledgeView(
        secret=secret,
        slug=pc.campaign.slug,
        title=pc.campaign.title or pc.campaign.slug,
        platform=platform,
        handle=pledge.account.handle if pledge.account is not None else "",
        text=posted,
        shown=shown_as.segments(posted, as_written=platform != "x"),
        wording=wording,
        link=link if platform != "x" else None,
        release_local=pc.release_at.astimezone(ZoneInfo(pc.timezone)),
        timezone=pc.timezone,
        state=pledge.state,
        has_email=bool(pledge.email),
        can_change=open_ and pledge.state != PledgeState.WITHDRAWN,
        allow_edit=pc.allow_edit,
        goal_missed=pc.state == PledgeCampaignState.GOAL_MISSED,
        campaign_link=link,
    )


def _show(
    request: Request, view: PledgeView, *, error: str = "", refused: str = "", status: int = 200
) -> Response:
    """``refused`` names the field ("wording", "email" or "link-email") the error is
    about, so the page marks it invalid and ties it to the message for screen readers."""
    page_url = f"{base_url(request)}/c/{view.slug}"
    context = {
        "p": view,
        "platform_names": PLATFORM_NAMES,
        "new": request.query_params.get("new") == "1",
        "saved": request.query_params.get("saved") == "1",
        "mailed": request.query_params.get("mailed") == "1",
        "error": error,
        "refused": refused,
        "private_url": f"{base_url(request)}/w/{view.secret}",
        "page_url": page_url,
        "share": sharing.share_links(page_url, view.title, view.slug),
        "can_mail": Mailer(runtime_of(request).settings).enabled,
    }
    response = render(request, "pledge.html", context, status)
    response.headers["cache-control"] = "no-store"  # it holds the private link
    return response


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

    def remove() -> tuple[bool, PledgeView, int | None, bool]:
        with runtime.sessions() as session:
            view = pledge_view(session, secret, now)
            pledge = pledging.pledge_by_secret(session, secret)
            account_id = pledge.account_id if pledge is not None else None
            done = pledging.withdraw(session, secret, now)
            # The token stays (and nothing is revoked) while the same account is pledged
            # to another campaign still to go out: the page must not say otherwise.
            kept = done and account_id is not None and pledging.still_connected(session, account_id)
            return done, view, account_id, kept

    done, view, account_id, kept = await run_in_threadpool(remove)
    if done:
        forget_page(request, view.slug)
        response = render(request, "withdrawn.html", {"p": view, "kept": kept})
        if account_id is not None and not kept:
            response.background = BackgroundTask(_revoke_now(request, account_id))
        return response
    if view.state == PledgeState.WITHDRAWN:
        return friendly(request, 200, "Already withdrawn", "Nothing will be posted from it.")
    return friendly(
        request,
        409,
        "Too late to withdraw",
        "The release has started, so this pledge can no longer be withdrawn.",
    )


def _revoke_now(request: Request, account_id: int) -> Callable[[], None]:
    """The withdrawn account's revocation, tried once the page has gone to the supporter;
    if the network does not answer, the daemon tries again (bot/pledges/revocations.py)."""
    runtime, now = runtime_of(request), now_of(request)
    client = signin_of(request).client

    def revoke() -> None:
        try:
            revokers = revocations.revokers_for(runtime, client)
            revocations.revoke_due(
                runtime.sessions, runtime.vault, revokers, now, account_ids=[account_id]
            )
        except Exception:
            # Nothing to show the supporter (the page has gone): the row stays queued.
            logger.exception("revoking a withdrawn pledge's token failed; the daemon retries")

    return revoke


# Mailing the private link can only reach the pledge's one address on file, and at most
# once per pledge per window and a few times per address per hour (on top of every
# form's per-client limit): the form cannot be turned into a way to mail strangers.
LINK_MAIL_PER_PLEDGE = (1, 600.0)
LINK_MAIL_PER_ADDRESS = (3, 3600.0)


@dataclass
class LinkMailLimits:
    """In memory, per process, like the per-client limiter; keyed by hashes, so neither
    a private link nor an address is kept in the table."""

    per_pledge: RateLimiter = dataclass_field(
        default_factory=lambda: RateLimiter(*LINK_MAIL_PER_PLEDGE)
    )
    per_address: RateLimiter = dataclass_field(
        default_factory=lambda: RateLimiter(*LINK_MAIL_PER_ADDRESS)
    )


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _too_soon(wait: float) -> Refused:
    minutes = max(1, round(wait / 60))
    return Refused(
        429,
        "The link was emailed a moment ago",
        f"Check your inbox (and spam folder). You can ask again in {minutes} minutes; "
        "meanwhile the link is on your pledge's page to copy.",
        retry_after=wait,
    )


async def email_link(request: Request) -> Response:
    """Send the private link to the pledge's email address: the one typed here (kept
    on the pledge, replacing any other) or, with the box empty, the one on file."""
    fields = await checked_form(request)
    secret = request.path_params["secret"]
    runtime, now = runtime_of(request), now_of(request)
    mailer = Mailer(runtime.settings)
    if not mailer.enabled:
        raise Refused(404, "Email is not set up here", "Copy the link from your pledge's page.")
    typed = field(fields, "email").strip()

    def store() -> tuple[PledgeView, str | None, str]:
        with runtime.sessions() as session:
            if pledging.pledge_by_secret(session, secret) is None:
                raise _unknown()
            error = ""
            if typed:
                try:
                    pledging.edit_pledge(
                        session, runtime.vault, secret, wording=None, email=typed, now=now
                    )
                except pledging.PledgeError as exc:
                    session.rollback()
                    error = str(exc)
            pledge = pledging.pledge_by_secret(session, secret)
            sealed = pledge.email if pledge is not None else None
            return (
                pledge_view(session, secret, now),
                pledging.open_email(runtime.vault, sealed),
                error,
            )

    view, address, error = await run_in_threadpool(store)
    if not error and address is None:
        error = "Type the email address to send the link to."
    if error:
        return _show(request, view, error=error, refused="link-email", status=400)
    assert address is not None
    limits: LinkMailLimits = request.app.state.link_mail_limits
    for limiter, key in ((limits.per_pledge, secret), (limits.per_address, address.lower())):
        wait = limiter.hit(_digest(key))
        if wait is not None:
            raise _too_soon(wait)
    private_url = f"{base_url(request)}/w/{secret}"
    subject, body = private_link_message(view.title, view.handle, view.platform, private_url)
    try:
        await run_in_threadpool(mailer.send, address, subject, body)
    except MailError as exc:
        logger.warning("a pledge's private link could not be emailed: %s", exc.summary)
        raise Refused(
            503,
            "The email could not be sent",
            "Your pledge is safe. Copy the link from your pledge's page instead, or try "
            "again later.",
        ) from None
    return RedirectResponse(f"/w/{secret}?mailed=1", status_code=303)


async def share_mastodon(request: Request) -> Response:
    """Mastodon has no one address to share to: ask for the supporter's server, then
    link to that server's share page (a link they press, not a redirect, so this
    address cannot send anyone to a site they did not see named)."""
    slug = request.path_params["slug"]
    runtime = runtime_of(request)

    def read() -> str:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            return pc.campaign.title or slug

    title = await run_in_threadpool(read)
    typed = request.query_params.get("server", "")
    context: dict[str, object] = {"slug": slug, "title": title, "typed": typed, "error": ""}
    if typed:
        try:
            server = sharing.mastodon_server(typed)
        except sharing.BadServer as exc:
            context["error"] = str(exc)
        else:
            page_url = f"{base_url(request)}/c/{slug}"
            context["server"] = server
            context["share_url"] = sharing.mastodon_share(server, title, page_url)
    status = 400 if context["error"] else 200
    return render(request, "share_mastodon.html", context, status)


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
    page_url = f"{base_url(request)}/c/{slug}"
    title = views[0].title if views else slug
    response = render(
        request,
        "thanks.html",
        {
            "views": views,
            "platform_names": PLATFORM_NAMES,
            "page_url": page_url,
            "share": sharing.share_links(page_url, title, slug),
        },
    )
    response.headers["cache-control"] = "no-store"  # it holds private links
    return response


def routes() -> list[BaseRoute]:
    return [
        Route("/w/{secret}", show, methods=["GET"]),
        Route("/w/{secret}", rate_limited(withdraw_pledge), methods=["POST"]),
        Route("/w/{secret}/edit", rate_limited(edit), methods=["POST"]),
        Route("/w/{secret}/email", rate_limited(email_link), methods=["POST"]),
        Route("/c/{slug}/share/mastodon", share_mastodon, methods=["GET"]),
        Route("/c/{slug}/thanks", thanks, methods=["GET"]),
    ]
