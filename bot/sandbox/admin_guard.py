"""Who may call the sandbox's admin API under /_sandbox/.

The admin API resets state, creates accounts and hands out their tokens. A web page on
another site that a volunteer happens to have open could otherwise drive it through their
browser: a ``<form>`` or ``fetch(…, {mode: "no-cors"})`` POST with a ``text/plain`` body
needs no CORS preflight (Fetch standard, "CORS-safelisted request-header"), so the sandbox
would act on it even though the page cannot read the answer. So:

- a request that changes anything (any method but GET/HEAD/OPTIONS) must say
  ``Content-Type: application/json``, which a cross-site page can only send after a
  preflight the sandbox never grants;
- when a browser says where the request comes from, it must be the sandbox itself:
  ``Origin`` (sent on every cross-origin request and on same-origin POSTs) must name the
  sandbox's own host, and ``Sec-Fetch-Site`` must be ``same-origin`` or ``none`` (typed
  or bookmarked);
- with an admin token set (``--admin-token`` / SANDBOX_ADMIN_TOKEN), every call must
  carry it in the ``X-Sandbox-Admin-Token`` header: that also keeps out a page that
  rebinds its own host name to 127.0.0.1, whose requests look same-origin.

The timeline page (``GET /_sandbox/``) is exempt: volunteers open it from links, and it
shows only what the platforms would show anyone.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.sandbox.options import ADMIN_TOKEN_HEADER

if TYPE_CHECKING:
    from bot.sandbox.state import SandboxState

logger = logging.getLogger(__name__)

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_PATH = "/_sandbox/"
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def refusal(
    method: str, path: str, headers: Headers, own_hosts: set[str], token: str
) -> tuple[int, str] | None:
    """(status, reason) when the request must be refused, else None."""
    if path == PAGE_PATH and method in ("GET", "HEAD"):
        return None
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ALLOWED_FETCH_SITES:
        return 403, f"the admin API answers only its own pages and scripts (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in own_hosts:
            return 403, f"the admin API answers only its own origin, not {origin!r}"
    if method not in READ_ONLY_METHODS:
        media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            return 415, (
                "the admin API takes only Content-Type: application/json "
                f"(got {media_type or 'none'}); send a JSON body, {{}} when there is nothing to say"
            )
    if token and not hmac.compare_digest(
        headers.get(ADMIN_TOKEN_HEADER, "").encode(), token.encode()
    ):
        return 401, f"the admin API needs the sandbox's admin token in {ADMIN_TOKEN_HEADER}"
    return None


class AdminGuard:
    """ASGI middleware on the /_sandbox mount: refuses what ``refusal`` names."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: SandboxState = scope["app"].state.sandbox
        headers = Headers(scope=scope)
        own_hosts = {headers.get("host", "").lower(), urlsplit(state.base_url).netloc.lower()}
        refused = refusal(
            scope["method"],
            scope["path"],
            headers,
            own_hosts - {""},
            state.options.admin_token,
        )
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        logger.warning("sandbox admin: refused %s %s: %s", scope["method"], scope["path"], reason)
        await JSONResponse({"error": reason}, status)(scope, receive, send)
