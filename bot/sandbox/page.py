"""GET /_sandbox/: every account's timeline, for volunteers watching a rehearsal.

Refreshes itself with <meta http-equiv="refresh">, so it works without JavaScript and on
a phone. Post text is user input: Jinja2 autoescape keeps it inert.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from bot.sandbox.templating import templates

REFRESH_S = 3
MAX_POSTS_PER_ACCOUNT = 50


def iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def timeline_page(request: Request) -> Response:
    state = request.app.state.sandbox
    return templates.TemplateResponse(
        request,
        "timeline.html",
        {
            "accounts": state.timeline(),
            "now": iso(state.clock.time()),
            "acceleration": state.clock.acceleration,
            "refresh_s": REFRESH_S,
            "max_posts": MAX_POSTS_PER_ACCOUNT,
        },
    )
