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

from bot.platforms.base import AccountInfo, AuthError, Credentials, PermanentError
from bot.platforms.routing import X_API_ORIGIN, reroute_url
from bot.platforms.x.adapter import XPlatform
from bot.platforms.x.auth import _classify_pin_failure, _RoutedOAuth1UserHandler

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
        self._routes = {X_API_ORIGIN: api_base_url} if api_base_url else None
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
        # tweepy builds https://api.twitter.com/oauth/authorize?...; a stand-in server
        # (the sandbox) serves the consent page where it serves the API.
        return reroute_url(url, self._routes or {}), token, secret

    def finish(
        self, oauth_token: str, oauth_token_secret: str, verifier: str
    ) -> tuple[str, str, AccountInfo]:
        """Exchange the verifier for the person's access token and secret, and say whose.

        A wrong or replayed verifier is X's 401: AuthError.
        """
        handler = self._handler("oob")
        handler.request_token = {
            "oauth_token": oauth_token,
            "oauth_token_secret": oauth_token_secret,
        }
        try:
            token, secret = handler.get_access_token(verifier.strip())
        except Exception as exc:
            raise _classify_pin_failure(
                exc,
                "X sign-in (callback)",
                "X did not accept this sign-in; start again",
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
