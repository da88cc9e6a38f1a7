"""The browser's side of a sign-in: whether a callback comes from the browser that
started it, and what a supporter just pledged, carried to /thanks in the session cookie.

The sign-ins themselves are stored server-side (bot/pledges/oauth_requests.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import RedirectResponse


def in_this_browser(request: Request, name: str, key: str) -> bool:
    """Whether the sign-in ``key`` was started from this browser's session: a callback
    URL handed to someone else (login CSRF) is refused."""
    started = request.session.get(name)
    return isinstance(started, str) and bool(key) and started == key


PLEDGED_KEY = "pledged"
PLEDGED_FOR = timedelta(minutes=10)
# The private links of one multi-Page pledge ride in the session cookie (about 43 bytes
# each; browsers keep 4 KB a cookie): at most this many Pages are pledged in one pick.
MAX_PAGES_PER_PICK = 20


def after_pledge(
    request: Request, slug: str, secrets_: list[str], now: datetime
) -> RedirectResponse:
    """Show the supporter what they pledged: their private page for one pledge, a list
    linking to each for several (Facebook Pages).

    The session cookie is signed, not encrypted, and a stall's tablet is shared: the
    withdraw secrets ride in it only for several Pages, only for this campaign, for
    PLEDGED_FOR at most, and /thanks takes them out the first time it shows them."""
    request.session.pop(PLEDGED_KEY, None)
    if len(secrets_) == 1:
        return RedirectResponse(f"/w/{secrets_[0]}?new=1", status_code=303)
    request.session[PLEDGED_KEY] = {
        "slug": slug,
        "until": (now + PLEDGED_FOR).timestamp(),
        "secrets": secrets_[:MAX_PAGES_PER_PICK],
    }
    return RedirectResponse(f"/c/{slug}/thanks", status_code=303)


def take_pledged(request: Request, slug: str, now: datetime) -> list[str]:
    """The secrets after_pledge left for ``slug``'s /thanks, removed from the session."""
    kept = request.session.pop(PLEDGED_KEY, None)
    if not isinstance(kept, dict) or kept.get("slug") != slug:
        return []
    until, secrets_ = kept.get("until"), kept.get("secrets")
    if not isinstance(until, int | float) or now.timestamp() > until:
        return []
    if not isinstance(secrets_, list):
        return []
    return [s for s in secrets_ if isinstance(s, str)]
