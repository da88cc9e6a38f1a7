"""Facebook Pages adapter, through facebook-sdk 3.1.0's GraphAPI.

Apps can post only to Pages
(publish_actions was removed in 2018, Groups in April 2024), so
``creds.platform_user_id`` is a Page id and ``creds.token`` a Page access token.

facebook-sdk is kept for what it does well: path building (``put_object``,
``get_connections``), adding the access token, the login dialog URL and the token
exchange calls. Its ``GraphAPI.request`` is replaced (``_GraphAPI.request``) because it
never looks at the HTTP status, raises KeyError when there is no content-type and an
unhelpful GraphAPIError on non-JSON bodies; ours sends the same request through the
same session and classifies the status and body once (``GRAPH_ERROR_TABLE``).
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import facebook
import requests

if TYPE_CHECKING:
    import aiohttp

    from bot.platforms.facebook.async_publish import FacebookAsyncPublisher

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
    GRAPH_ORIGIN,
    WWW_FACEBOOK_ORIGIN,
    classify_transport_error,
    reroute_url,
    session_for,
)

logger = logging.getLogger(__name__)

DEFAULT_GRAPH_VERSION = "v25.0"
# When a throttled call carries no estimated_time_to_regain_access: Graph's app and
# Page limits are computed over a rolling one-hour window
# (https://developers.facebook.com/docs/graph-api/overview/rate-limiting), so a short
# wait lets part of it drain; 10 minutes keeps campaign posts timely without hammering.
DEFAULT_THROTTLE_WAIT = 600.0
_FIND_RECENT_PAGES = 3


@dataclass(frozen=True)
class GraphErrorRule:
    error: type[PlatformError]
    label: str
    rate_limited: bool = False
    maybe_sent: bool = False  # a create may have happened: look before resending
    duplicate: bool = False  # "same text again": after an unknown outcome, ours is there


_RATE = GraphErrorRule(TransientError, "Facebook rate limit reached", rate_limited=True)
_AUTH_PERMISSION = GraphErrorRule(
    AuthError, "the Page token lacks a permission (reconnect the Page and grant it)"
)

# Codes: https://developers.facebook.com/docs/graph-api/guides/error-handling ("Error Codes")
# and /work/shared/contracts/README.md.
GRAPH_ERROR_TABLE: dict[int, GraphErrorRule] = {
    # 190 "Access token has expired" (every subcode: 458 app removed, 459 checkpoint,
    # 460 password changed, 463 expired, 464 unconfirmed, 467 invalid): "Get a new token".
    190: GraphErrorRule(AuthError, "Facebook rejected the Page token"),
    # 102 "API Session": login status or token expired/revoked/invalid - get a new token.
    102: GraphErrorRule(AuthError, "Facebook session invalid"),
    # 10 "API Permission Denied" and 200-299 "API Permission": "Permission is either not
    # granted or has been removed" - only reconnecting with the permission fixes it.
    10: _AUTH_PERMISSION,
    **{code: _AUTH_PERMISSION for code in range(200, 300)},
    # 4 app, 17 user, 32 Page, 613 custom rate limit; 341 "Application limit reached":
    # "temporary issue due to throttling. Wait and retry the operation".
    4: _RATE,
    17: _RATE,
    32: _RATE,
    613: _RATE,
    341: _RATE,
    # 368 "Temporarily blocked for policies violations". The docs say "wait and retry",
    # but repeating the same content is what got it blocked: this post must not be
    # resent automatically; the operator reviews it.
    368: GraphErrorRule(PermanentError, "Facebook blocked the post for policy reasons"),
    # 506 "Duplicate Post": "Duplicate posts cannot be published consecutively".
    506: GraphErrorRule(PermanentError, "duplicate post", duplicate=True),
    # 100 "Invalid parameter".
    100: GraphErrorRule(PermanentError, "Facebook rejected a parameter"),
    # 803 "Some of the aliases you requested do not exist": a multi-id lookup
    # (GET /?ids=) naming a deleted or unknown object; the engagement reader finds which.
    803: GraphErrorRule(PermanentError, "Facebook has no object with that id"),
    # 2635: the Graph version asked for is deprecated (see graph_version below).
    2635: GraphErrorRule(
        PermanentError,
        "this Graph API version is deprecated: set FACEBOOK_GRAPH_VERSION to a current "
        "version (e.g. v25.0)",
    ),
    # 1 "API Unknown" / 2 "API Service": "temporary issue due to downtime. Wait and retry".
    1: GraphErrorRule(TransientError, "Facebook API unknown error", maybe_sent=True),
    2: GraphErrorRule(TransientError, "Facebook API service error", maybe_sent=True),
}


def _regain_access_seconds(headers: Any) -> float | None:
    """Longest ``estimated_time_to_regain_access`` (minutes) in X-Business-Use-Case-Usage.

    Header shape: ``{"<business id>": [{"type": "pages", "call_count": 100, ...,
    "estimated_time_to_regain_access": 5}]}``
    (https://developers.facebook.com/docs/graph-api/overview/rate-limiting).
    """
    raw = headers.get("x-business-use-case-usage") if headers is not None else None
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    valid = [float(m) for m in minutes if isinstance(m, int | float) and m > 0]
    return max(valid) * 60.0 if valid else None


def classify_graph_response(
    status: int, body: Any, headers: Any = None, *, secrets: tuple[str, ...] = ()
) -> PlatformError:
    """Turn one failed Graph answer into the error class the ledger acts on.

    ``secrets`` (the tokens and app secret the request carried) are blanked out of
    Graph's message in case it ever quotes one back.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        raw_code = error.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        message = str(error.get("message") or "")
        for secret in secrets:
            message = message.replace(secret, "***")
        message = message[:300]
        rule = GRAPH_ERROR_TABLE.get(code) if code is not None else None
        if rule is not None:
            text = f"{rule.label} (#{code}: {message})"
            if rule.error is TransientError:
                if rule.rate_limited:
                    wait = _regain_access_seconds(headers) or DEFAULT_THROTTLE_WAIT
                    return TransientError(text, code=code, retry_after=wait, rate_limited=True)
                return TransientError(text, code=code, maybe_sent=rule.maybe_sent)
            if rule.error is PermanentError:
                return PermanentError(text, code=code, duplicate=rule.duplicate)
            return rule.error(text, code=code)
        if status >= 500:
            return TransientError(
                f"Facebook server error (HTTP {status}: {message})", code=code, maybe_sent=True
            )
        # Unknown code (is_transient or not): transient, the ledger caps retries and looks
        # for the post before resending it.
        return TransientError(
            f"unexpected Facebook error (#{code}: {message})", code=code, maybe_sent=True
        )
    if status >= 500:
        return TransientError(
            f"Facebook server error (HTTP {status})", code=status, maybe_sent=True
        )
    return TransientError(
        f"unexpected answer from Facebook (HTTP {status})", code=status, maybe_sent=True
    )


def _parse_body(response: requests.Response) -> Any:
    """JSON when it is JSON; the old ``access_token=...&expires=...`` form that
    facebook-sdk still understands; otherwise None. Never raises."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        pass
    fields = parse_qs(response.text)
    if "access_token" in fields:
        return {k: v[0] for k, v in fields.items()}
    return None


_SECRET_PARAMS = frozenset({"access_token", "client_secret", "fb_exchange_token", "code"})


class _GraphAPI(facebook.GraphAPI):
    """facebook-sdk's GraphAPI with a ``request`` that checks the status and body."""

    def request(
        self,
        path: str,
        args: dict[str, Any] | None = None,
        post_args: dict[str, Any] | None = None,
        files: Any = None,
        method: str | None = None,
    ) -> Any:
        args = dict(args or {})
        if post_args is not None:
            method = "POST"
        method = method or "GET"
        headers: dict[str, str] = {}
        if self.access_token:
            if post_args is not None:
                # As facebook-sdk does: in a POST the token goes in the body.
                post_args.setdefault("access_token", self.access_token)
            elif "access_token" not in args:
                # facebook-sdk would put it in the query string; Graph also takes it as a
                # Bearer header, which keeps it out of URLs (urllib3 logs them at DEBUG).
                headers["Authorization"] = f"Bearer {self.access_token}"
        action = f"Facebook {method} {path.split('?')[0]}"
        try:
            response = self.session.request(
                method,
                facebook.FACEBOOK_GRAPH_URL + path,
                timeout=self.timeout,
                params=args,
                data=post_args,
                files=files,
                headers=headers,
            )
        except requests.RequestException as exc:
            raise classify_transport_error(exc, action=action, idempotent=method == "GET") from None
        body = _parse_body(response)
        if 200 <= response.status_code < 300 and isinstance(body, dict) and "error" not in body:
            return body
        if 200 <= response.status_code < 300 and not isinstance(body, dict) and method != "GET":
            # Accepted but unreadable: a post may exist; reconcile before resending.
            raise OutcomeUnknown(
                f"{action}: accepted (HTTP {response.status_code}) but the answer was unreadable"
            )
        secrets = tuple(
            str(v)
            for source in (args, post_args or {}, {"access_token": self.access_token})
            for k, v in source.items()
            if k in _SECRET_PARAMS and v
        )
        raise classify_graph_response(response.status_code, body, response.headers, secrets=secrets)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _version(value: str) -> str:
    value = value.strip()
    return value if value.startswith("v") else f"v{value}"


class FacebookPlatform:
    """Facebook Pages through the Graph API."""

    name = "facebook"
    # 63,206 characters per post; no threads on Facebook (the queue joins them).
    limits = Limits(max_length=63206, weighted_length=False, supports_threads=False)

    def __init__(
        self,
        *,
        graph_version: str = DEFAULT_GRAPH_VERSION,
        graph_base_url: str | None = None,
        www_base_url: str | None = None,
        timeout: float = 30.0,
        pool_size: int = 32,
    ) -> None:
        self.graph_version = _version(graph_version)
        self._timeout = timeout
        self._routes: dict[str, str] = {}
        if graph_base_url:
            self._routes[GRAPH_ORIGIN] = graph_base_url
        if www_base_url:
            self._routes[WWW_FACEBOOK_ORIGIN] = www_base_url
        self.session = session_for(self._routes or None, pool_size=pool_size, timeout=timeout)

    def _graph(self, token: str | None = None) -> _GraphAPI:
        # Cheap (no I/O); built per call so no token is shared between threads.
        # facebook-sdk's constructor only accepts versions up to "3.1", so the version
        # is set on the object afterwards (facebook/__init__.py, GraphAPI.__init__).
        graph = _GraphAPI(access_token=token, timeout=self._timeout, session=self.session)
        graph.version = self.graph_version
        return graph

    def async_publisher(self, session: aiohttp.ClientSession) -> FacebookAsyncPublisher:
        """Single Page posts on asyncio, for bursts (bot/delivery/dispatcher.py); ``session`` is an
        aiohttp session of the caller's event loop. (Imported here: the async module
        uses this one's error table.)"""
        from bot.platforms.facebook.async_publish import FacebookAsyncPublisher

        return FacebookAsyncPublisher(session, self.graph_version, self._routes or None)

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
        if reply_to is not None:
            raise PermanentError("Facebook has no threads: join the parts into one post")
        if not creds.token:
            raise AuthError("no Page token for this account")
        fields: dict[str, str] = {"message": text}
        if link:
            fields["link"] = link
        if publish_at is not None:
            if publish_at.tzinfo is None:
                raise ValueError("publish_at must be timezone-aware")
            # Facebook holds the post itself: published=false + scheduled_publish_time
            # (Unix seconds), https://developers.facebook.com/docs/pages-api/posts
            fields["published"] = "false"
            fields["scheduled_publish_time"] = str(int(publish_at.timestamp()))
        result = self._graph(creds.token).put_object(creds.platform_user_id, "feed", **fields)
        post_id = result.get("id") if isinstance(result, dict) else None
        if not post_id:
            raise OutcomeUnknown("Facebook accepted the post but returned no id")
        logger.info("published Facebook post %s on Page %s", post_id, creds.platform_user_id)
        return Published(
            platform_id=str(post_id), url=f"https://www.facebook.com/{post_id}", text=text
        )

    def find_recent(
        self, creds: Credentials, text: str, since: datetime, *, link: str | None = None
    ) -> Published | None:
        """GET /{page-id}/feed since ``since``; then the Page's scheduled posts, since a
        post held by Facebook (``publish_at``) is not in the feed until it goes out.
        (The link travels beside the message on Facebook, so only the message is compared.)"""
        graph = self._graph(creds.token)
        found = self._search(graph, creds, "feed", text, {"since": str(int(since.timestamp()))})
        if found is not None:
            return found
        try:
            return self._search(graph, creds, "scheduled_posts", text, {})
        except PermanentError:
            # #100 "nonexisting field": a Graph without the edge holds no scheduled post
            # of ours; failing here would leave every reconciliation stuck.
            logger.debug("no scheduled_posts edge on Page %s", creds.platform_user_id)
            return None

    @staticmethod
    def _search(
        graph: _GraphAPI, creds: Credentials, edge: str, text: str, extra: dict[str, str]
    ) -> Published | None:
        wanted = _normalise(text)
        page_id = creds.platform_user_id
        after: str | None = None
        for _ in range(_FIND_RECENT_PAGES):
            args = {"fields": "id,message,created_time,from", "limit": "100", **extra}
            if after:
                args["after"] = after
            page = graph.get_connections(page_id, edge, **args)
            for item in page.get("data") or []:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                # The feed also holds visitors' posts: one quoting our text is not ours.
                author = item.get("from")
                if isinstance(author, dict) and str(author.get("id")) != page_id:
                    continue
                if _normalise(str(item.get("message") or "")) == wanted:
                    return Published(
                        platform_id=str(item["id"]),
                        url=f"https://www.facebook.com/{item['id']}",
                        text=str(item.get("message") or ""),
                        created_at=_parse_time(item.get("created_time")),
                    )
            after = _next_cursor(page)
            if not after:
                return None
        return None

    def verify(self, creds: Credentials) -> AccountInfo:
        page_id = creds.platform_user_id or "me"
        data = self._graph(creds.token).get_object(
            page_id, fields="id,name,followers_count,fan_count"
        )
        if not isinstance(data, dict) or not data.get("id"):
            raise TransientError("Facebook verify: unreadable answer")
        followers = data.get("followers_count", data.get("fan_count"))
        return AccountInfo(
            platform_user_id=str(data["id"]),
            handle=str(data.get("username") or data["id"]),
            name=str(data.get("name") or ""),
            followers=int(followers) if isinstance(followers, int) else None,
        )

    # -- Facebook Login (pledges) --------------------------------------------------------

    def login_url(self, app_id: str, redirect_uri: str, state: str, scopes: list[str]) -> str:
        """The Facebook Login dialog URL (www.facebook.com/vNN/dialog/oauth?...)."""
        url = self._graph().get_auth_url(app_id, redirect_uri, perms=scopes, state=state)
        return reroute_url(str(url), self._routes)

    def exchange_code(self, app_id: str, app_secret: str, redirect_uri: str, code: str) -> str:
        """The user access token for the ``code`` the dialog redirected back with."""
        result = self._graph().get_access_token_from_code(code, redirect_uri, app_id, app_secret)
        return _token_from(result, "code exchange")

    def long_lived(self, app_id: str, app_secret: str, token: str) -> str:
        """A long-lived (about 60 days) user token for a short-lived one."""
        result = self._graph(token).extend_access_token(app_id, app_secret)
        return _token_from(result, "token extension")

    def pages(self, user_token: str) -> list[dict[str, Any]]:
        """The Pages the user manages, each with ``id``, ``name`` and ``access_token``.

        A Page token obtained from a long-lived user token does not expire.
        """
        result = self._graph(user_token).get_connections(
            "me", "accounts", fields="id,name,access_token,tasks,followers_count", limit="100"
        )
        data = result.get("data") if isinstance(result, dict) else None
        return [item for item in (data or []) if isinstance(item, dict)]


def _token_from(result: Any, action: str) -> str:
    token = result.get("access_token") if isinstance(result, dict) else None
    if not token:
        raise TransientError(f"Facebook {action}: no access_token in the answer")
    return str(token)


def _next_cursor(page: Any) -> str | None:
    paging = page.get("paging") if isinstance(page, dict) else None
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return str(after) if after else None


def _parse_time(value: Any) -> datetime | None:
    # Graph times look like 2026-03-01T12:00:00+0000.
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
