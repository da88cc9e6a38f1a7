"""The console's routes, gathered from its areas, and its mount under /console.

    routes = console_routes(runtime)     # every ConsoleRoute (the security test walks them)
    mount = console_mount(runtime)       # what bot.web.app serves at /console

An area is a module with ``ROUTES: list[ConsoleRoute]`` and, when it has a menu entry,
``NAV: list[NavItem]``. Adding one is adding it to ``AREAS``.
"""

from __future__ import annotations

from types import ModuleType

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.console import (
    accounts,
    alerts,
    approvals,
    assets,
    attention,
    audit,
    auth,
    calendar,
    compose,
    people,
    pledges,
    posts,
    reports,
    schedules,
)
from bot.console.pages import (
    Console,
    NavItem,
    make_templates,
    policies_from,
    render,
    see_other,
)
from bot.console.roles import Role
from bot.console.routing import ConsoleRoute, route
from bot.runtime.wiring import Runtime
from bot.web.security import RateLimiter

AREAS: list[ModuleType] = [
    assets,
    auth,
    attention,
    people,
    audit,
    calendar,
    posts,
    compose,
    accounts,
    schedules,
    alerts,
    pledges,
    reports,
    approvals,
]
# The menu's order, whichever areas exist.
NAV_ORDER = [
    "Calendar",
    "Posts",
    "Schedule files",
    "Approvals",
    "Pledge campaigns",
    "Reports",
    "Accounts",
    "Alerts",
    "People",
    "Audit",
]
ADDRESS_WINDOW_SECONDS = 15 * 60

# Console pages hold what only signed-in people may see: never cached, never framed.
CONSOLE_HEADERS = [
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]


class ConsoleHeaders:
    """Adds CONSOLE_HEADERS to every console response and hands views the Console."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope["clarion.console"] = self.console

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = {name for name, _ in CONSOLE_HEADERS}
                kept = [(n, v) for n, v in message.get("headers", []) if n not in ours]
                message["headers"] = kept + CONSOLE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def home(request: Request) -> Response:
    """The first page of the menu the person may open (the calendar when it exists)."""
    for item in nav_items():
        if request.state.user.role.allows(item.role) and item.path != "/":
            return see_other("/console" + item.path)
    return render(request, "home.html")


HOME_ROUTES = [route("/", home, role=Role.VIEWER, name="home")]


def nav_items() -> list[NavItem]:
    items: list[NavItem] = []
    for area in AREAS:
        items.extend(getattr(area, "NAV", []))
    rank = {label: i for i, label in enumerate(NAV_ORDER)}
    return sorted(items, key=lambda item: rank.get(item.label, len(rank)))


def console_routes(runtime: Runtime | None = None) -> list[ConsoleRoute]:
    """Every console route, each with the role it declares. ``runtime`` is accepted for
    areas whose routes depend on settings; none do yet."""
    routes: list[ConsoleRoute] = []
    for area in AREAS:
        routes.extend(area.ROUTES)
    if not any(r.path == "/" for r in routes):  # the calendar is the home page
        routes[:0] = HOME_ROUTES
    return routes


def console_mount(runtime: Runtime) -> BaseRoute:
    """The console at /console, with its headers, templates, sign-in policies and the
    per-address sign-in limit."""
    session_policy, lock_policy = policies_from(runtime)
    console = Console(
        runtime=runtime,
        templates=make_templates(),
        sessions_policy=session_policy,
        lock_policy=lock_policy,
        address_limiter=RateLimiter(
            runtime.settings.console_address_attempts, ADDRESS_WINDOW_SECONDS
        ),
        unknown_emails=RateLimiter(max(1, lock_policy.failures - 1), lock_policy.minutes * 60.0),
        secure_cookies=runtime.settings.web_base_url.startswith("https://"),
        nav=nav_items(),
        attention=attention.items,
    )
    router = Router(routes=list(console_routes(runtime)))
    return Mount(
        "/console",
        app=router,
        name="console",
        middleware=[Middleware(ConsoleHeaders, console=console)],
    )
