"""The step between the campaign page and a platform's sign-in: what will be posted,
what happens to the sign-in, and the button that starts it.

GET /c/{slug}/pledge/x, GET /c/{slug}/pledge/facebook, GET /c/{slug}/pledge/bluesky

The campaign page's Support buttons are plain links here, so the page itself carries no
per-visitor CSRF token and can be cached and shared between visitors; this step is
per visitor (its form's token is in this browser's session) and is never cached.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.campaigns import previews as shown_as
from bot.pledges import pledging
from bot.web.campaign import PLATFORM_NAMES, load_campaign
from bot.web.pages import now_of, render, runtime_of
from bot.web.pledge_x import refuse_if_closed
from bot.web.security import Refused


@dataclass(frozen=True)
class SupportStep:
    slug: str
    title: str
    platform: str
    shown: tuple[shown_as.Segment, ...]  # the message as the platform shows it
    link: str | None  # Facebook attaches it beside the text


async def support_step(request: Request) -> Response:
    slug, platform = request.path_params["slug"], request.path_params["platform"]
    return await render_step(request, slug, platform)


async def render_step(
    request: Request,
    slug: str,
    platform: str,
    *,
    handle: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    """The step's page; ``handle`` and ``error`` show a Bluesky handle that was not
    found again, with what was wrong, so the supporter can correct it."""
    if platform not in PLATFORM_NAMES:
        raise Refused(404, "Page not found", "Check the link you were given, or ask its sender.")
    runtime, now = runtime_of(request), now_of(request)

    def read() -> SupportStep:
        with runtime.sessions() as session:
            pc = load_campaign(session, slug)
            refuse_if_closed(pc, now)
            if platform not in pc.message:
                raise Refused(
                    404,
                    f"This campaign does not post to {PLATFORM_NAMES[platform]}",
                    "Go back to the campaign page to see how you can support it.",
                )
            text = pledging.preview(pc, platform)
            return SupportStep(
                slug=slug,
                title=pc.campaign.title or slug,
                platform=platform,
                shown=shown_as.segments(text, as_written=platform != "x"),
                link=pc.link if platform == "facebook" else None,
            )

    step = await run_in_threadpool(read)
    response = render(
        request,
        "support.html",
        {
            "s": step,
            "platform_name": PLATFORM_NAMES[platform],
            "read_days": runtime.settings.pledge_token_read_days,
            "handle": handle,
            "error": error,
        },
        status=status,
    )
    # The form's CSRF token belongs to this browser: no cache may keep or share it.
    response.headers["cache-control"] = "no-store"
    return response


def routes() -> list[BaseRoute]:
    return [Route("/c/{slug}/pledge/{platform}", support_step, methods=["GET"])]
