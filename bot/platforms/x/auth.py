"""Signing in to X with a PIN (OAuth 1.0a, out-of-band), for the campaign's own account."""

from __future__ import annotations

from bot.platforms.base import AccountInfo
from bot.platforms.x.signin import XWebSignIn


class XPinAuth:
    """PIN-based OAuth 1.0a ("oob" callback): the volunteer opens a URL, approves the
    app on X, and types the PIN X shows back into Clarion. The same three-legged flow as
    the web sign-in, with X showing the verifier as a PIN instead of redirecting.
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
        self._signin = XWebSignIn(
            consumer_key, consumer_secret, api_base_url=api_base_url, timeout=timeout
        )
        self._request_token: tuple[str, str] | None = None

    def authorization_url(self) -> str:
        """Fetch a request token and return the URL the volunteer opens to approve."""
        url, token, secret = self._signin.start("oob")
        self._request_token = (token, secret)
        return url

    def finish(self, pin: str) -> tuple[str, str, AccountInfo]:
        """Exchange the PIN for the account's access token and secret, and say whose."""
        if self._request_token is None:
            raise RuntimeError("call authorization_url() before finish()")
        return self._signin.finish(
            *self._request_token,
            pin,
            action="X sign-in (PIN)",
            refused="X did not accept the PIN; start the sign-in again",
        )
