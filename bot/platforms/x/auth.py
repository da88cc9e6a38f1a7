"""Signing in to X with a PIN (OAuth 1.0a, out-of-band), for the campaign's own account."""

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
from bot.platforms.routing import (
    X_API_ORIGIN,
    classify_transport_error,
    mount_routes,
    reroute_url,
)
from bot.platforms.x.adapter import XPlatform

logger = logging.getLogger(__name__)


class _RoutedOAuth1UserHandler(tweepy.OAuth1UserHandler):
    """tweepy's handler makes a new OAuth1Session in ``__init__`` and again in
    ``get_access_token`` (auth.py), so rerouting is mounted whenever one is assigned."""

    def __init__(self, *args: Any, routes: dict[str, str] | None, timeout: float, **kw: Any):
        self._routes = routes
        self._timeout = timeout
        super().__init__(*args, **kw)

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


class XPinAuth:
    """PIN-based OAuth 1.0a ("oob" callback): the volunteer opens a URL, approves the
    app on X, and types the PIN X shows back into Clarion.
    https://docs.x.com/fundamentals/authentication/oauth-1-0a/pin-based-oauth
    """

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
        self._routes = {X_API_ORIGIN: api_base_url} if api_base_url else None
        self._timeout = timeout
        self._handler = _RoutedOAuth1UserHandler(
            consumer_key, consumer_secret, callback="oob", routes=self._routes, timeout=timeout
        )

    def authorization_url(self) -> str:
        """Fetch a request token and return the URL the volunteer opens to approve."""
        try:
            url = str(self._handler.get_authorization_url())
        except Exception as exc:
            raise _classify_pin_failure(
                exc,
                "X sign-in (request token)",
                "X refused the app's keys: check X_CONSUMER_KEY and X_CONSUMER_SECRET",
                PermanentError,  # configuration, not an account's token
            ) from None
        # tweepy builds https://api.twitter.com/oauth/authorize?...; point it at the same
        # place the API calls go, so a stand-in server serves the consent page too.
        return reroute_url(url, self._routes or {})

    def finish(self, pin: str) -> tuple[str, str, AccountInfo]:
        """Exchange the PIN for the account's access token and secret, and say whose."""
        if not self._handler.request_token:
            raise RuntimeError("call authorization_url() before finish()")
        try:
            token, secret = self._handler.get_access_token(pin.strip())
        except Exception as exc:
            raise _classify_pin_failure(
                exc,
                "X sign-in (PIN)",
                "X did not accept the PIN; start the sign-in again",
                AuthError,
            ) from None
        platform = XPlatform(
            self._consumer_key,
            self._consumer_secret,
            api_base_url=self._api_base_url,
            timeout=self._timeout,
            pool_size=2,
        )
        who = platform.verify(Credentials(token=token, secret=secret))
        return token, secret, who
