"""What every route shares: the runtime, the clock, and rendering a template or a
friendly message page."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.runtime.wiring import Runtime

SESSION_COOKIE = "clarion_session"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def now_of(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def base_url(request: Request) -> str:
    url: str = request.app.state.base_url
    return url


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    ctx = {"base_url": base_url(request), **(context or {})}
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def friendly(
    request: Request, status: int, title: str, text: str, *, retry_after: float | None = None
) -> Response:
    """A plain page saying what happened and what to do; never a stack trace."""
    response = render(request, "message.html", {"title": title, "text": text}, status)
    if retry_after is not None:
        response.headers["retry-after"] = str(max(1, math.ceil(retry_after)))
    return response
