"""Tokens and login codes of the Graph sandbox (mixed into GraphState).

Token kinds: short-lived user tokens (login dialog, ~2 h), long-lived user tokens
(``fb_exchange_token``, ~60 days), Page tokens (``/me/accounts``; never expire when got
with a long-lived user token) and the app token ``{app-id}|{app-secret}``. Validation
gives the code-190 error, with the subcode for why the token died, that Graph sends
(https://developers.facebook.com/docs/facebook-login/guides/access-tokens/debugging).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.limits import Counters, GraphLimits, check
from bot.sandbox.graph.model import (
    CODE_LIFETIME_SECONDS,
    LONG_LIVED_SECONDS,
    PAGE_SCOPES,
    SHORT_LIVED_SECONDS,
    FbUser,
    LoginCode,
    Token,
)

logger = logging.getLogger(__name__)


class TokensMixin:
    """Token and login-code operations; GraphState provides the attributes below."""

    app_id: str
    app_secret: str
    require_appsecret_proof: bool
    users: dict[str, FbUser]
    tokens: dict[str, Token]
    codes: dict[str, LoginCode]
    limits: GraphLimits
    counters: Counters
    clock: Any
    _lock: threading.RLock

    def now(self) -> float:
        raise NotImplementedError

    def _token_value(self) -> str:
        # Facebook tokens are opaque alphanumerics starting "EAA".
        raw = secrets.token_urlsafe(96).replace("-", "").replace("_", "")
        return "EAA" + raw[:150]

    def issue_user_token(
        self, user_id: str, scopes: list[str] | None = None, *, long_lived: bool = False
    ) -> Token:
        with self._lock:
            if user_id not in self.users:
                raise KeyError(user_id)
            now = self.now()
            lifetime = LONG_LIVED_SECONDS if long_lived else SHORT_LIVED_SECONDS
            token = Token(
                value=self._token_value(),
                kind="user",
                user_id=user_id,
                scopes=list(PAGE_SCOPES if scopes is None else scopes),
                issued_at=now,
                expires_at=now + lifetime,
                long_lived=long_lived,
            )
            self.tokens[token.value] = token
            return token

    def page_token(self, user_token: Token, page_id: str) -> Token:
        """The Page token a Page admin gets from /me/accounts with ``user_token``.

        From a long-lived user token it never expires; from a short-lived one it expires
        with it (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
        The same live token is handed out again rather than minting a new one per call.
        """
        with self._lock:
            for token in self.tokens.values():
                if (
                    token.kind == "page"
                    and token.page_id == page_id
                    and token.user_id == user_token.user_id
                    and token.long_lived == user_token.long_lived
                    and token.revoked is None
                    and token.expires_at
                    == (None if user_token.long_lived else user_token.expires_at)
                ):
                    return token
            token = Token(
                value=self._token_value(),
                kind="page",
                user_id=user_token.user_id,
                page_id=page_id,
                scopes=list(user_token.scopes),
                issued_at=self.now(),
                expires_at=None if user_token.long_lived else user_token.expires_at,
                long_lived=user_token.long_lived,
            )
            self.tokens[token.value] = token
            return token

    def app_token(self) -> str:
        """The app access token: Graph accepts ``{app-id}|{app-secret}`` as one."""
        return f"{self.app_id}|{self.app_secret}"

    def is_app_token(self, value: str) -> bool:
        return secrets.compare_digest(value.encode(), self.app_token().encode())

    def inspect(self, value: str) -> Token | None:
        with self._lock:
            return self.tokens.get(value)

    def check_appsecret_proof(self, value: str, proof: str | None) -> None:
        """Graph checks ``appsecret_proof`` whenever a call carries one: the hex
        HMAC-SHA256 of the call's access token keyed by the app secret; without one the
        call passes unless the app requires it ("Require App Secret")
        (https://developers.facebook.com/docs/graph-api/securing-requests)."""
        if proof is None:
            if self.require_appsecret_proof:
                raise errors.appsecret_proof_required()
            return
        expected = hmac.new(self.app_secret.encode(), value.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), proof.encode("utf-8", "replace")):
            raise errors.invalid_appsecret_proof()

    def validate(self, value: str) -> Token:
        """The live token for ``value``, or the Graph error a client would get (code 190)."""
        with self._lock:
            token = self.tokens.get(value)
            if token is None:
                raise errors.invalid_token()
            if token.revoked == "password_changed":
                raise errors.password_changed()
            if token.revoked == "logged_out":
                raise errors.logged_out()
            if token.revoked is not None:
                raise errors.deauthorized(self.app_id)
            now = self.now()
            if token.expires_at is not None and token.expires_at <= now:
                raise errors.expired(_human_time(token.expires_at), _human_time(now))
            return token

    def revoke(self, value: str, reason: str = "deauthorized") -> int:
        """Revoke a token; returns how many tokens died (0 if unknown).

        A user token takes the Page tokens obtained through the same person with it when
        the person removed the app or changed password; "logged_out" ends only that session.
        """
        if reason not in errors.REVOKE_REASONS:
            raise ValueError(f"reason must be one of {errors.REVOKE_REASONS}")
        with self._lock:
            token = self.tokens.get(value)
            if token is None:
                return 0
            victims = [token]
            if token.kind == "user" and reason != "logged_out":
                victims += [
                    t
                    for t in self.tokens.values()
                    if t.user_id == token.user_id and t is not token and t.kind != "app"
                ]
            count = 0
            for victim in victims:
                if victim.revoked is None:
                    victim.revoked = reason
                    count += 1
            logger.info("sandbox facebook: %d token(s) revoked (%s)", count, reason)
            return count

    def throttle(self, token: Token) -> dict[str, str]:
        """Count a call made with ``token``; raises code 4/17/32; returns usage headers."""
        with self._lock:
            return check(
                self.counters,
                self.limits,
                app_id=self.app_id,
                kind=token.kind,
                subject_id=token.subject_id,
                wall=float(self.clock.wall()),
            )

    # --- login codes -------------------------------------------------------------------

    def issue_code(self, user_id: str, client_id: str, redirect_uri: str, scopes: list[str]) -> str:
        with self._lock:
            code = LoginCode(
                value="AQ" + secrets.token_urlsafe(48),
                user_id=user_id,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                issued_at=self.now(),
            )
            self.codes[code.value] = code
            return code.value

    def redeem_code(self, value: str, redirect_uri: str) -> Token:
        """Exchange a login code for a short-lived user token (code 100 errors otherwise)."""
        with self._lock:
            code = self.codes.get(value)
            if code is None:
                raise errors.GraphError(
                    "Invalid verification code format.", code=100, subcode=36007
                )
            if code.used:
                raise errors.GraphError(
                    "This authorization code has been used.", code=100, subcode=36009
                )
            if self.now() - code.issued_at > CODE_LIFETIME_SECONDS:
                raise errors.GraphError(
                    "This authorization code has expired.", code=100, subcode=36007
                )
            if redirect_uri != code.redirect_uri:
                raise errors.GraphError(
                    "Error validating verification code. Please make sure your redirect_uri "
                    "is identical to the one you used in the OAuth dialog request",
                    code=100,
                    subcode=36008,
                )
            code.used = True
            return self.issue_user_token(code.user_id, code.scopes, long_lived=False)


def _human_time(ts: float) -> str:
    """How Graph writes times in its 463 message ("Tuesday, 18-Nov-25 10:00:00 PST")."""
    return datetime.fromtimestamp(ts, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
