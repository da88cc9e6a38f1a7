"""Facebook Pages adapter: posts through our own request, everything else through
facebook-sdk 3.1.0's GraphAPI.

Apps can post only to Pages (publish_actions was removed in 2018, Groups in April 2024),
so ``creds.platform_user_id`` is a Page id and ``creds.token`` a Page access token.

Posts (and posts Facebook holds for later) are built and read by
``bot.platforms.facebook.rules`` and sent on the adapter's pooled requests session
(``http.carry_out``), the same call the burst path (``async_publish``) makes on aiohttp.
For the rest facebook-sdk is a shell around our own request: it builds paths
(``get_connections``, ``get_object``), the login dialog URL and the token exchange calls,
while its ``GraphAPI.request`` is replaced (``CheckedGraphAPI.request``) because it never looks
at the HTTP status, raises KeyError when there is no content-type and an unhelpful
GraphAPIError on non-JSON bodies; ours sends the same request through the same session
and classifies the status and body once (``GRAPH_ERROR_TABLE``, ``errors``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import facebook
import requests

from bot.platforms.base import (
    LOOK_MAX_PAGES,
    AccountInfo,
    Credentials,
    Limits,
    OutcomeUnknown,
    PermanentError,
    Published,
    TransientError,
    look_ran_out,
)
from bot.platforms.facebook import rules
from bot.platforms.facebook.async_publish import FacebookAsyncPublisher
from bot.platforms.facebook.errors import classify_graph_response
from bot.platforms.facebook.rules import DEFAULT_GRAPH_VERSION
from bot.platforms.http import (
    GRAPH_ORIGIN,
    WWW_FACEBOOK_ORIGIN,
    carry_out,
    classify_transport_error,
    reroute_url,
    session_for,
)

logger = logging.getLogger(__name__)


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


class CheckedGraphAPI(facebook.GraphAPI):
    """facebook-sdk's GraphAPI with a ``request`` that checks the status and body, and
    that sends ``appsecret_proof`` for the call's token when the app secret is known
    (facebook-sdk never does)."""

    app_secret: str | None = None

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
        if self.app_secret:
            # Proof of the token the call is made with (securing-requests): the one in the
            # body or query when given there, else the client's own.
            target = post_args if post_args is not None else args
            token = target.get("access_token") or self.access_token
            if token:
                target["appsecret_proof"] = rules.appsecret_proof(str(token), self.app_secret)
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
        app_secret: str | None = None,
    ) -> None:
        self.graph_version = rules.graph_version(graph_version)
        # With it every call carries appsecret_proof, so the app's "Require App Secret"
        # setting may be on (https://developers.facebook.com/docs/graph-api/securing-requests).
        self._app_secret = app_secret or None
        self._timeout = timeout
        self._routes: dict[str, str] = {}
        if graph_base_url:
            self._routes[GRAPH_ORIGIN] = graph_base_url
        if www_base_url:
            self._routes[WWW_FACEBOOK_ORIGIN] = www_base_url
        self.session = session_for(self._routes or None, pool_size=pool_size, timeout=timeout)

    def graph_client(self, token: str | None = None) -> CheckedGraphAPI:
        """facebook-sdk's client for ``token`` (or none), on the adapter's session."""
        # Cheap (no I/O); built per call so no token is shared between threads.
        # facebook-sdk's constructor only accepts versions up to "3.1", so the version
        # is set on the object afterwards (facebook/__init__.py, GraphAPI.__init__).
        graph = CheckedGraphAPI(access_token=token, timeout=self._timeout, session=self.session)
        graph.version = self.graph_version
        graph.app_secret = self._app_secret
        return graph

    def async_publisher(self, session: aiohttp.ClientSession) -> FacebookAsyncPublisher:
        """Single Page posts on asyncio, for bursts (bot/delivery/dispatcher.py); ``session`` is an
        aiohttp session of the caller's event loop."""
        return FacebookAsyncPublisher(
            session, self.graph_version, self._routes or None, app_secret=self._app_secret
        )

    # -- Platform ----------------------------------------------------------------------

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,  # unused: the platform names its own posts
        idempotency_key: str | None = None,  # Graph has none: unknown outcomes are looked for
    ) -> Published:
        call = rules.publish_call(
            self.graph_version,
            creds.platform_user_id,
            creds.token,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            app_secret=self._app_secret,
        )
        published = carry_out(self.session, call)
        logger.info(
            "published Facebook post %s on Page %s", published.platform_id, creds.platform_user_id
        )
        return published

    def find_recent(
        self,
        creds: Credentials,
        text: str,
        since: datetime,
        *,
        link: str | None = None,
        record_key: str | None = None,  # unused: the platform names its own posts
    ) -> Published | None:
        """GET /{page-id}/feed since ``since``; then the Page's scheduled posts, since a
        post held by Facebook (``publish_at``) is not in the feed until it goes out.
        (The link travels beside the message on Facebook, so only the message is compared.)"""
        graph = self.graph_client(creds.token)
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
        graph: CheckedGraphAPI, creds: Credentials, edge: str, text: str, extra: dict[str, str]
    ) -> Published | None:
        wanted = rules.normalise_message(text)
        page_id = creds.platform_user_id
        after: str | None = None
        for _ in range(LOOK_MAX_PAGES):
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
                if rules.normalise_message(str(item.get("message") or "")) == wanted:
                    return Published(
                        platform_id=str(item["id"]),
                        url=f"https://www.facebook.com/{item['id']}",
                        text=str(item.get("message") or ""),
                        created_at=rules.parse_time(item.get("created_time")),
                    )
            after = rules.next_cursor(page)
            if not after:
                return None
        raise look_ran_out(f"Facebook {edge} read", LOOK_MAX_PAGES)

    def verify(self, creds: Credentials) -> AccountInfo:
        page_id = creds.platform_user_id or "me"
        data = self.graph_client(creds.token).get_object(
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
        url = self.graph_client().get_auth_url(app_id, redirect_uri, perms=scopes, state=state)
        return reroute_url(str(url), self._routes)

    def exchange_code(self, app_id: str, app_secret: str, redirect_uri: str, code: str) -> str:
        """The user access token for the ``code`` the dialog redirected back with."""
        result = self.graph_client().get_access_token_from_code(
            code, redirect_uri, app_id, app_secret
        )
        return _token_from(result, "code exchange")

    def long_lived(self, app_id: str, app_secret: str, token: str) -> str:
        """A long-lived (about 60 days) user token for a short-lived one."""
        result = self.graph_client(token).extend_access_token(app_id, app_secret)
        return _token_from(result, "token extension")

    def pages(self, user_token: str) -> list[dict[str, Any]]:
        """The Pages the user manages, each with ``id``, ``name`` and ``access_token``.

        A Page token obtained from a long-lived user token does not expire.
        """
        result = self.graph_client(user_token).get_connections(
            "me", "accounts", fields="id,name,access_token,tasks,followers_count", limit="100"
        )
        data = result.get("data") if isinstance(result, dict) else None
        return [item for item in (data or []) if isinstance(item, dict)]


def _token_from(result: Any, action: str) -> str:
    token = result.get("access_token") if isinstance(result, dict) else None
    if not token:
        raise TransientError(f"Facebook {action}: no access_token in the answer")
    return str(token)
