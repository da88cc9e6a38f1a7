"""App-password sessions kept fresh: refreshed before use, never with a stale token.

An app-password session's access JWT lives about two hours; ``refreshSession`` trades the
refresh JWT for a new pair and retires the old refresh JWT
(https://docs.bsky.app/docs/api/com-atproto-server-refresh-session). So the freshest pair
is remembered here, keyed by the refresh JWT it replaced (the sealed one): a reconnect puts
another pair in the vault, which then wins. ``on_refresh`` hands the new pair to whoever
seals it back into the vault, so a restart does not start from a retired refresh JWT.

OAuth sessions (supporters' pledges) are refreshed by ``oauth_refresh``, handed in by
the wiring: their refresh tokens are single-use and shared by every process working on the
database, so only ``bot.pledges.oauth_sessions.fresh_credentials`` (a compare-and-swap on
the sealed row) may spend one; it returns the credentials to use, already stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from bot.platforms.base import Credentials
from bot.platforms.bluesky import credentials, oauth
from bot.platforms.bluesky.credentials import BlueskyAuth

logger = logging.getLogger(__name__)

# Refresh when less than this is left: a post's request must not race the expiry.
REFRESH_MARGIN_SECONDS = 120.0
_CACHE_SIZE = 65536

OnRefresh = Callable[[str, Credentials], None]
# Sealed OAuth credentials -> the account's current ones, refreshed and stored if due.
OAuthRefresh = Callable[[Credentials], Credentials]


class Sessions:
    """The freshest session of every account seen, shared by both transports."""

    def __init__(
        self, on_refresh: OnRefresh | None = None, oauth_refresh: OAuthRefresh | None = None
    ) -> None:
        self.on_refresh = on_refresh
        self.oauth_refresh = oauth_refresh
        self._lock = threading.Lock()
        self._fresh: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._refreshing: dict[str, threading.Lock] = {}

    def refresh_lock(self, creds: Credentials) -> threading.Lock:
        """One lock per sealed session: a refresh token works once, so two threads must
        not both spend it (the second would be refused and the account marked for
        reconnecting). The second waits, then finds the first one's fresh pair."""
        key = credentials.unpack(creds)["refresh_token"]
        with self._lock:
            return self._refreshing.setdefault(key, threading.Lock())

    def current(self, creds: Credentials) -> dict[str, Any]:
        """The session to use for ``creds``: the sealed one, or its refreshed successor."""
        stored = credentials.unpack(creds)
        with self._lock:
            fresh = self._fresh.get(stored["refresh_token"])
        return dict(fresh) if fresh is not None else stored

    @staticmethod
    def needs_refresh(session: dict[str, Any], now: float | None = None) -> bool:
        if session.get("auth") != BlueskyAuth.APP_PASSWORD:
            return False
        expiry = credentials.token_expiry(str(session.get("access_token", "")))
        if expiry is None:
            return False  # not a JWT we can read: let the PDS judge it
        return expiry - (time.time() if now is None else now) < REFRESH_MARGIN_SECONDS

    def oauth_due(self, session: dict[str, Any], now: float | None = None) -> bool:
        """Whether ``session`` is an OAuth one whose access token is about to expire
        (``expires_at``), with someone to refresh it. Without ``oauth_refresh`` the PDS
        judges the token (an expired one is an AuthError: reconnect)."""
        return (
            self.oauth_refresh is not None
            and session.get("auth") == BlueskyAuth.OAUTH
            and oauth.needs_refresh(session, now)
        )

    def refresh_oauth(self, creds: Credentials) -> Credentials:
        """The OAuth credentials to use instead of ``creds`` (``oauth_refresh``)."""
        if self.oauth_refresh is None:
            return creds
        return self.oauth_refresh(creds)

    def refreshed(self, creds: Credentials, fresh: dict[str, Any]) -> None:
        """Remember ``fresh`` as the successor of the session sealed in ``creds``."""
        stored = credentials.unpack(creds)
        with self._lock:
            self._fresh[stored["refresh_token"]] = fresh
            self._fresh.move_to_end(stored["refresh_token"])
            while len(self._fresh) > _CACHE_SIZE:
                old, _ = self._fresh.popitem(last=False)
                self._refreshing.pop(old, None)
        logger.info("refreshed the Bluesky session of %s", fresh.get("did"))
        if self.on_refresh is not None:
            try:
                self.on_refresh(str(fresh["did"]), credentials.pack(fresh))
            except Exception:
                # The fresh pair is still used from memory; only a restart would miss it.
                logger.exception("could not store the refreshed Bluesky session")
