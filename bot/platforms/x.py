"""X (Twitter) API v2 adapter, through tweepy.Client with OAuth 1.0a user tokens.

The only module that imports tweepy. One attempt per call, every failure
classified once: HTTP answers by ``X_ERROR_TABLE`` (``classify_x_response``), network
failures by ``routing.classify_transport_error``.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import tweepy

from bot.platforms.base import (
    AccountInfo,
    AuthError,
    Credentials,
    Limits,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    Published,
    TransientError,
)
from bot.platforms.routing import (
    X_API_ORIGIN,
    classify_transport_error,
    mount_routes,
    reroute_url,
    session_for,
)

logger = logging.getLogger(__name__)

# A 429 without x-rate-limit-reset (should not happen: docs.x.com/x-api/fundamentals/
# rate-limits says every response carries it) waits one full 15-minute window.
DEFAULT_RATE_LIMIT_WAIT = 900.0
# Covers a 10,000-account release without rebuilding clients (~90 us each, measured).
_CLIENT_CACHE_SIZE = 16384
_USERNAME_CACHE_SIZE = 65536
_FIND_RECENT_PAGES = 3


@dataclass(frozen=True)
class XErrorRule:
    """One row of the X error table: the first row that matches a response wins."""

    status: range  # HTTP statuses this row covers
    problem_suffix: str | None  # X problem ``type`` URI must end with this
    detail_contains: str | None  # ... or the detail/message must contain this
    error: type[PlatformError]
    label: str  # what the operator reads first
    rate_limited: bool = False


def _s(status: int) -> range:
    return range(status, status + 1)


# Statuses and problem types: https://docs.x.com/x-api/fundamentals/response-codes-and-errors
# (formerly developer.x.com/en/support/x-api/error-troubleshooting).
X_ERROR_TABLE: tuple[XErrorRule, ...] = (
    # 429 usage-capped: the app's monthly/pay-per-use cap is spent ("429 Too Many Requests:
    # Rate limit or usage cap exceeded"; problem type .../2/problems/usage-capped).
    # Decision: PermanentError, not a long TransientError. The cap belongs to the app and
    # resets with the billing period (days away) or when the operator raises the plan;
    # x-rate-limit-reset says nothing about it. Campaign posts are time-bound, so posting
    # them days late is wrong, and a rate-limited transient error is not counted as an
    # attempt, so every queued post would wait indefinitely. The operator must act.
    XErrorRule(
        _s(429),
        "/2/problems/usage-capped",
        None,
        PermanentError,
        "X API usage cap reached for this app (raise the plan or spend limit)",
    ),
    # 429 rate limit: wait until x-rate-limit-reset (docs.x.com/x-api/fundamentals/rate-limits:
    # "x-rate-limit-reset: the time remaining before the rate limit resets, in epoch seconds").
    XErrorRule(_s(429), None, None, TransientError, "rate limited by X", rate_limited=True),
    # 401: "Invalid or missing authentication credentials" - the user revoked the app or
    # the token is bad: the account needs reconnecting.
    XErrorRule(_s(401), None, None, AuthError, "X rejected the account's token"),
    # 403 oauth1-permissions: the token was issued without write access (app was read-only
    # when the volunteer authorised it); only a new authorisation fixes it.
    XErrorRule(
        _s(403),
        "/2/problems/oauth1-permissions",
        None,
        AuthError,
        "the account's token lacks write permission",
    ),
    # 403 duplicate: "You are not allowed to create a Tweet with duplicate content."
    # (see /work/shared/contracts/README.md); sending it again can never succeed.
    XErrorRule(_s(403), None, "duplicate content", PermanentError, "duplicate content"),
    # Other 403: "Valid auth but no permission for this resource or action" (suspended or
    # locked account, reply restricted, ...): keep X's message for the operator.
    XErrorRule(_s(403), None, None, PermanentError, "X refused the post"),
    # 400 invalid-request: "Malformed request or invalid parameters" (e.g. too long).
    XErrorRule(_s(400), None, None, PermanentError, "X rejected the request as invalid"),
    # 404: "Resource doesn't exist or has been deleted" - e.g. the reply target is gone.
    XErrorRule(_s(404), None, None, PermanentError, "not found on X"),
    # 5xx: "Wait and retry; check status page".
    XErrorRule(range(500, 600), None, None, TransientError, "X server error"),
)


def _problem(body: Any) -> tuple[str, str, str]:
    """(type, title, detail) from an X problem body, tolerating any JSON shape."""
    if not isinstance(body, dict):
        return "", "", ""
    ptype = str(body.get("type") or "")
    title = str(body.get("title") or "")
    parts = [str(body.get("detail") or "")]
    errors = body.get("errors")
    if isinstance(errors, list):
        for err in errors:
            if isinstance(err, dict):
                parts.append(str(err.get("message") or err.get("detail") or ""))
                ptype = ptype or str(err.get("type") or "")
    detail = " ".join(p for p in parts if p).strip()
    return ptype, title, detail


def _retry_after(headers: Any, now: float) -> float:
    raw = headers.get("x-rate-limit-reset") if headers is not None else None
    try:
        reset = float(str(raw))
    except (TypeError, ValueError):
        return DEFAULT_RATE_LIMIT_WAIT
    # Never 0: a reset already in the past (clock skew) still waits a moment.
    return max(reset - now, 1.0)


def classify_x_response(
    status: int, body: Any, headers: Any = None, *, now: float | None = None
) -> PlatformError:
    """Turn one X error response into the error class the ledger acts on."""
    ptype, title, detail = _problem(body)
    for rule in X_ERROR_TABLE:
        if status not in rule.status:
            continue
        if rule.problem_suffix and not ptype.endswith(rule.problem_suffix):
            continue
        if rule.detail_contains and rule.detail_contains not in detail.lower():
            continue
        message = f"{rule.label} (HTTP {status}{': ' + detail if detail else ''})"[:500]
        code = ptype.rsplit("/", 1)[-1] if ptype.startswith("http") else status
        if rule.error is TransientError:
            if rule.rate_limited:
                wait = _retry_after(headers, time.time() if now is None else now)
                return TransientError(message, code=code, retry_after=wait, rate_limited=True)
            return TransientError(message, code=code)
        return rule.error(message, code=code)
    # Unknown status or shape: transient; the ledger caps the retries.
    shown = f": {title or detail}" if (title or detail) else ""
    return TransientError(f"unexpected answer from X (HTTP {status}{shown})"[:500], code=status)


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _classify_exception(exc: Exception, *, action: str, idempotent: bool) -> PlatformError:
    if isinstance(exc, tweepy.HTTPException):
        response = exc.response
        return classify_x_response(response.status_code, _json_or_none(response), response.headers)
    if isinstance(exc, requests.RequestException):
        return classify_transport_error(exc, action=f"X {action}", idempotent=idempotent)
    # tweepy's own error parsing can fail on odd bodies (e.g. a JSON array): we got
    # an error status we cannot read; unknown -> transient.
    logger.warning("X %s failed with unexpected %s", action, type(exc).__name__)
    return TransientError(f"X {action}: unexpected failure ({type(exc).__name__})")


_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def normalise_for_match(text: str) -> str:
    """The form two post texts are compared in when reconciling.

    X rewrites every URL to a t.co link in the returned ``text`` (docs.x.com: "All URLs
    are wrapped with t.co"), HTML-escapes &, < and > in it, and stores text NFC-normalised
    (twitter-text). So URLs become one placeholder, entities are unescaped, and both sides
    are NFC-normalised and stripped before comparing.
    """
    text = unicodedata.normalize("NFC", html.unescape(text))
    return _URL.sub("<url>", text).strip()


def compose_text(text: str, link: str | None) -> str:
    """The exact text sent to X: ``link`` appended unless the text already holds it."""
    if not link or link in text:
        return text
    return f"{text.rstrip()} {link}"


class XPlatform:
    """X API v2. ``creds.platform_user_id`` is the X user id."""

    name = "x"
    # 280 weighted characters (docs.x.com counting-characters: URLs count 23, emoji and
    # CJK 2); POST /2/tweets: 100 requests per 15 minutes per user
    # (docs.x.com/x-api/fundamentals/rate-limits, 2026).
    limits = Limits(
        max_length=280,
        weighted_length=True,
        supports_threads=True,
        posts_per_window_per_user=100,
        window_seconds=900,
    )

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        api_base_url: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 30.0,
        pool_size: int = 32,
    ) -> None:
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._bearer_token = bearer_token
        self._routes = {X_API_ORIGIN: api_base_url} if api_base_url else None
        # One session for every account and thread: connections to X are pooled.
        self.session = session_for(self._routes, pool_size=pool_size, timeout=timeout)
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str], tweepy.Client] = OrderedDict()
        self._usernames: OrderedDict[str, str] = OrderedDict()

    # -- clients -----------------------------------------------------------------------

    def _client(self, creds: Credentials) -> tweepy.Client:
        """A tweepy.Client for this token pair, cached (LRU, bounded, thread-safe).

        tweepy.Client is stateless apart from its keys and ``session`` (client.py:
        BaseClient.request uses ``self.session.request``), so a cached client can serve
        many threads. Its own fresh Session is closed and replaced by the shared one.
        """
        key = (creds.token, creds.secret)
        with self._lock:
            client = self._clients.get(key)
            if client is not None:
                self._clients.move_to_end(key)
                return client
        client = tweepy.Client(
            bearer_token=self._bearer_token,
            consumer_key=self._consumer_key,
            consumer_secret=self._consumer_secret,
            access_token=creds.token,
            access_token_secret=creds.secret,
            # Raw responses: we parse the JSON ourselves so an odd 2xx body becomes a
            # classified error rather than an AttributeError inside tweepy.
            return_type=requests.Response,
            # Never sleep inside the adapter: the scheduler must not block (STYLE.md 3).
            wait_on_rate_limit=False,
        )
        client.session.close()
        client.session = self.session
        with self._lock:
            self._clients[key] = client
            while len(self._clients) > _CLIENT_CACHE_SIZE:
                self._clients.popitem(last=False)
        return client

    def remember_handle(self, user_id: str, username: str) -> None:
        """Tell the adapter an account's username, so post URLs can name it
        (``verify`` learns it too); unknown ones get x.com/i/web/status/{id}."""
        with self._lock:
            self._usernames[user_id] = username
            self._usernames.move_to_end(user_id)
            while len(self._usernames) > _USERNAME_CACHE_SIZE:
                self._usernames.popitem(last=False)

    def post_url(self, user_id: str, post_id: str) -> str:
        with self._lock:
            username = self._usernames.get(user_id)
        if username:
            return f"https://x.com/{username}/status/{post_id}"
        return f"https://x.com/i/web/status/{post_id}"

    # -- Platform ----------------------------------------------------------------------

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
    ) -> Published:
        if publish_at is not None:
            raise PermanentError(
                "X cannot hold a post for later: API v2 has no scheduled posts; "
                "Clarion must send it at the time instead"
            )
        body = compose_text(text, link)
        client = self._client(creds)
        try:
            response = client.create_tweet(text=body, in_reply_to_tweet_id=reply_to, user_auth=True)
        except Exception as exc:
            raise _classify_exception(exc, action="publish", idempotent=False) from None
        # A 2xx means X accepted the post; if we cannot read its id we do not know
        # which post it is, so the ledger must reconcile rather than resend.
        payload = _json_or_none(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise OutcomeUnknown(
                f"X accepted the post (HTTP {response.status_code}) but its id was unreadable",
                code=response.status_code,
            )
        post_id = str(data["id"])
        logger.info("published X post %s for user %s", post_id, creds.platform_user_id)
        return Published(
            platform_id=post_id,
            url=self.post_url(creds.platform_user_id, post_id),
            # What we sent: X's echo has t.co links and HTML entities in place of ours.
            text=body,
        )

    def find_recent(self, creds: Credentials, text: str, since: datetime) -> Published | None:
        """GET /2/users/:id/tweets from ``since``, newest first, a few pages at most.

        Matches our text either as sent or with a link appended (``publish`` may have
        appended one), comparing in ``normalise_for_match`` form.
        """
        wanted = normalise_for_match(text)
        wanted_forms = {wanted, f"{wanted} <url>".strip()}
        client = self._client(creds)
        token: str | None = None
        for _ in range(_FIND_RECENT_PAGES):
            try:
                response = client.get_users_tweets(
                    creds.platform_user_id,
                    start_time=since,
                    max_results=100,
                    tweet_fields=["created_at"],
                    pagination_token=token,
                    user_auth=True,
                )
            except Exception as exc:
                raise _classify_exception(exc, action="timeline lookup", idempotent=True) from None
            page = _json_or_none(response)
            if not isinstance(page, dict):
                raise TransientError("X timeline lookup: unreadable answer")
            for item in page.get("data") or []:
                if not isinstance(item, dict) or "id" not in item:
                    continue
                if normalise_for_match(str(item.get("text", ""))) in wanted_forms:
                    post_id = str(item["id"])
                    return Published(
                        platform_id=post_id,
                        url=self.post_url(creds.platform_user_id, post_id),
                        text=str(item.get("text", "")),
                        created_at=_parse_time(item.get("created_at")),
                    )
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                return None
        return None

    def verify(self, creds: Credentials) -> AccountInfo:
        client = self._client(creds)
        try:
            response = client.get_me(user_fields=["public_metrics"], user_auth=True)
        except Exception as exc:
            raise _classify_exception(exc, action="verify", idempotent=True) from None
        payload = _json_or_none(response)
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict) or not data.get("id"):
            raise TransientError("X verify: unreadable answer")
        metrics = data.get("public_metrics")
        followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
        info = AccountInfo(
            platform_user_id=str(data["id"]),
            handle=str(data.get("username") or ""),
            name=str(data.get("name") or ""),
            followers=int(followers) if isinstance(followers, int) else None,
        )
        if info.handle:
            self.remember_handle(info.platform_user_id, info.handle)
        return info


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


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
