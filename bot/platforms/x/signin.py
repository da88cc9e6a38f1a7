"""Signing supporters in to X from the web: three-legged OAuth 1.0a with a callback URL.

X's "Obtaining user access tokens" flow
(https://docs.x.com/fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens):
POST oauth/request_token with ``oauth_callback``, send the person to oauth/authorize,
X redirects back with ``oauth_token`` and ``oauth_verifier`` (or ``denied=`` on Cancel),
then POST oauth/access_token. Unlike XPinAuth, the two halves run in different HTTP
requests, so the request token and its secret are handed back to the caller to keep
(server-side) between them, and ``finish`` rebuilds tweepy's handler from them.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
import tweepy

from bot.platforms.base import (
    AccountInfo,
    AuthError,
    Credentials,
    PermanentError,
    PlatformError,
    TransientError,
)
from bot.platforms.http import (
    X_API_ORIGIN,
    classify_transport_error,
    mount_routes,
    reroute_url,
    x_routes,
)
from bot.platforms.x.adapter import XPlatform

CALLBACK_REFUSED = "X did not accept this sign-in; start again"


class _RoutedOAuth1UserHandler(tweepy.OAuth1UserHandler):
    """tweepy's handler makes a new OAuth1Session in ``__init__`` and again in
    ``get_access_token`` (auth.py), so rerouting is mounted whenever one is assigned."""

    def __init__(self, *args: Any, routes: dict[str, str] | None, timeout: float, **kw: Any):
        self._routes = routes
        self._timeout = timeout
        super().__init__(*args, **kw)

    def _get_oauth_url(self, endpoint: str) -> str:
        # tweepy's own is on the former host (auth.py); sign and send on X's current one.
        return f"{X_API_ORIGIN}/oauth/{endpoint}"

    @property
    def oauth(self) -> Any:
        return self._oauth

    @oauth.setter
    def oauth(self, session: requests.Session) -> None:
        mount_routes(session, self._routes, pool_size=2, timeout=self._timeout)
        self._oauth = session


def _classify_pin_failure(
    exc: Exception, action: str, refused: str, on_401: type[PlatformError]
) -> PlatformError:
    """tweepy wraps OAuth failures in TweepyException, sometimes twice (auth.py:
    get_authorization_url wraps _get_request_token's own wrapper): unwrap to the cause."""
    cause: BaseException = exc
    while isinstance(cause, tweepy.TweepyException) and cause.args:
        if not isinstance(cause.args[0], BaseException):
            break
        cause = cause.args[0]
    if isinstance(cause, requests.RequestException):
        return classify_transport_error(cause, action=action, idempotent=True)
    # requests_oauthlib's TokenRequestDenied carries the HTTP status.
    status = getattr(cause, "status_code", None)
    if isinstance(status, int):
        if status == 401:
            return on_401(f"{action}: {refused} (HTTP 401)", code=status)
        if status == 429 or status >= 500:
            return TransientError(f"{action}: X answered HTTP {status}", code=status)
        return PermanentError(f"{action}: X answered HTTP {status}", code=status)
    return TransientError(f"{action}: unexpected failure ({type(cause).__name__})")


logger = logging.getLogger(__name__)


class XWebSignIn:
    """One object per app; safe to share between requests (no per-sign-in state)."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._api_base_url = api_base_url
        self._routes = x_routes(api_base_url)
        self._timeout = timeout

    def _handler(self, callback_url: str) -> _RoutedOAuth1UserHandler:
        return _RoutedOAuth1UserHandler(
            self._consumer_key,
            self._consumer_secret,
            callback=callback_url,
            routes=self._routes,
            timeout=self._timeout,
        )

    def start(self, callback_url: str) -> tuple[str, str, str]:
        """A request token for ``callback_url``: (authorize_url, oauth_token, token_secret).

        The secret must stay on the server; only ``authorize_url`` goes to the browser.
        """
        handler = self._handler(callback_url)
        try:
            url = str(handler.get_authorization_url())
        except Exception as exc:
            raise _classify_pin_failure(
                exc,
                "X sign-in (request token)",
                "X refused the app's keys: check X_CONSUMER_KEY and X_CONSUMER_SECRET",
                PermanentError,
            ) from None
        token = handler.request_token.get("oauth_token", "")
        secret = handler.request_token.get("oauth_token_secret", "")
        if not token or not secret:
            raise PermanentError("X sign-in (request token): no oauth_token in X's answer")
        # The URL is https://api.x.com/oauth/authorize?...; a stand-in server
        # (the sandbox) serves the consent page where it serves the API.
        return reroute_url(url, self._routes or {}), token, secret

    def finish(
        self,
        oauth_token: str,
        oauth_token_secret: str,
        verifier: str,
        *,
        action: str = "X sign-in (callback)",
        refused: str = CALLBACK_REFUSED,
    ) -> tuple[str, str, AccountInfo]:
        """Exchange the verifier (or PIN) for the person's access token and secret, and
        say whose. A wrong or replayed verifier is X's 401: AuthError(``refused``).
        """
        handler = self._handler("oob")
        handler.request_token = {
            "oauth_token": oauth_token,
            "oauth_token_secret": oauth_token_secret,
        }
        try:
            token, secret = handler.get_access_token(verifier.strip())
        except Exception as exc:
            raise _classify_pin_failure(exc, action, refused, AuthError) from None
        platform = XPlatform(
            self._consumer_key,
            self._consumer_secret,
            api_base_url=self._api_base_url,
            timeout=self._timeout,
            pool_size=2,
        )
        who = platform.verify(Credentials(token=token, secret=secret))
        return token, secret, who
