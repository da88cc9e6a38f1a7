"""The campaign pages and the volunteer console (bot.console, at /console/): a
Starlette app, server-rendered with Jinja2 (autoescaped).

    app = create_web_app(runtime)   # served by `python main.py web` and inside `run`

Routes are split by concern: ``campaign`` (the public page), ``pledge_x``,
``pledge_facebook`` and ``pledge_bluesky`` (signing in and pledging), ``withdraw`` (the
private link: confirm, edit, withdraw). ``security`` holds CSRF, form parsing, rate
limits and headers. ``health`` (/healthz, /readyz, /metrics) is mounted here unless
METRICS_BIND serves it apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.console.app import console_mount
from bot.runtime.wiring import Runtime
from bot.settings import ConfigError
from bot.web import (
    campaign,
    health,
    pledge_bluesky,
    pledge_facebook,
    pledge_mastodon,
    pledge_x,
    support,
    withdraw,
)
from bot.web.page_cache import PageCache
from bot.web.pages import SESSION_COOKIE, friendly, render
from bot.web.security import (
    PublicAddress,
    RateLimiter,
    Refused,
    RefusesNul,
    SecurityHeaders,
    csrf_token,
    loggable_path,
)

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_MAX_AGE = 4 * 3600  # a sign-in round trip and a confirmation, not a login


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every value from a volunteer or supporter is escaped
        undefined=jinja2.StrictUndefined,
    )
    env.globals["csrf_token"] = csrf_token
    return Jinja2Templates(env=env)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return friendly(request, exc.status, exc.title, exc.text, retry_after=exc.retry_after)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return friendly(
            request, 404, "Page not found", "Check the link you were given, or ask its sender."
        )
    return friendly(request, exc.status_code, "Something went wrong", str(exc.detail))


async def _crash(request: Request, exc: Exception) -> Response:
    logger.exception("web request %s failed", loggable_path(request))
    return HTMLResponse(
        "<!doctype html><html lang='en'><title>Error</title><h1>Something went wrong</h1>"
        "<p>Please try again in a minute.</p></html>",
        status_code=500,
    )


async def home(request: Request) -> Response:
    return render(request, "home.html")


def create_web_app(
    runtime: Runtime,
    *,
    rate_limit: tuple[int, float] = (20, 60.0),
    clock: Callable[[], datetime] | None = None,
    page_cache_seconds: float = campaign.PAGE_CACHE_SECONDS,
) -> Starlette:
    """The campaign pages on ``runtime``'s database and platforms.

    ``rate_limit``: pledge, edit and withdraw requests allowed per client address per
    window (seconds). ``clock`` gives "now" (tests move it past a release).
    ``page_cache_seconds``: how long a rendered campaign page is reused (0: never).
    """
    settings = runtime.settings
    if not settings.web_secret_key:
        raise ConfigError(
            "WEB_SECRET_KEY is not set, so the campaign pages cannot sign their cookies: run "
            "`python main.py init` to generate one"
        )
    secure = settings.web_base_url.startswith("https://")
    page_cache = PageCache(page_cache_seconds)
    now = clock or (lambda: datetime.now(UTC))
    middleware = [
        Middleware(PublicAddress, base_url=settings.web_base_url),
        Middleware(SecurityHeaders),
        Middleware(RefusesNul),
        Middleware(campaign.CachedPageShortcut, cache=page_cache, clock=now),
        Middleware(
            SessionMiddleware,
            secret_key=settings.web_secret_key.reveal(),
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE,
            same_site="lax",  # the OAuth callbacks are top-level GETs from X/Facebook
            https_only=secure,
        ),
    ]
    routes = [
        Route("/", home),
        *campaign.routes(),
        *pledge_x.routes(),
        *pledge_facebook.routes(),
        *pledge_bluesky.routes(),
        *pledge_mastodon.routes(),
        *support.routes(),
        *withdraw.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if not settings.metrics_bind:  # else served alone on METRICS_BIND (bot/runtime/process.py)
        routes[:0] = health.routes(runtime)
    if settings.console_enabled:  # CONSOLE_ENABLED=false: /console/ is a 404 like any page
        routes.append(console_mount(runtime))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={
            Refused: _refused,
            HTTPException: _http_error,
            Exception: _crash,
        },
    )
    app.state.runtime = runtime
    app.state.templates = _templates()
    app.state.base_url = settings.web_base_url.rstrip("/")
    app.state.limiter = RateLimiter(*rate_limit)
    app.state.clock = now
    app.state.page_cache = page_cache
    app.state.link_mail_limits = withdraw.LinkMailLimits()
    app.state.bluesky_signin = pledge_bluesky.BlueskySignIn(runtime)
    return app
