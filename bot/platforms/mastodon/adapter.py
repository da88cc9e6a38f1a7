"""Mastodon adapter: posts through our own request, everything else through Mastodon.py.

Every instance is its own API, so an account's credentials carry its server
(``Credentials.server``) beside the user's OAuth 2 access token. Statuses are built and
read by ``bot.platforms.mastodon.rules`` and sent on the adapter's pooled requests session
(``http.carry_out``), the same call the burst path (``async_publish``) makes on aiohttp.
Mastodon.py makes the rest on that same session (so the routes reach the sandbox): app
registration, the OAuth authorize URL and code exchange, verify_credentials, the
account's statuses (reconciling unknown outcomes), the instance's limits and engagement
reads. It is given ``ratelimit_method="throw"``: adapters never sleep out a rate limit,
the ledger does.
"""

from __future__ import annotations

import html
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from html.parser import HTMLParser
from typing import Any, TypeVar

import aiohttp
import requests

from bot.platforms.base import (
    LOOK_MAX_PAGES,
    AccountInfo,
    AuthError,
    Credentials,
    Limits,
    PermanentError,
    PlatformError,
    Published,
    TransientError,
    look_ran_out,
)
from bot.platforms.http import (
    carry_out,
    classify_transport_error,
    normalise_routes,
    reroute_url,
    session_for,
)
from bot.platforms.mastodon import rules
from bot.platforms.mastodon.async_publish import MastodonAsyncPublisher
from bot.platforms.mastodon.errors import DEFAULT_RATE_LIMIT_WAIT, classify_mastodon_response

logger = logging.getLogger(__name__)

T = TypeVar("T")

# The least the campaign's accounts and supporters grant: post statuses, read them back
# (reconciling, engagement) and read who they are (verify_credentials needs read:accounts).
# https://docs.joinmastodon.org/api/oauth-scopes/
SCOPES = ("read:accounts", "read:statuses", "write:statuses")
CLIENT_NAME = "Clarion"
# How long an instance's limits are trusted before they are read again.
INSTANCE_TTL_S = 3600.0
_REMOTE_MENTION = re.compile(r"(^|[^/\w])@([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+", re.IGNORECASE)


@dataclass(frozen=True)
class InstanceLimits:
    """What one instance allows in a status (GET /api/v2/instance, configuration.statuses)."""

    max_characters: int = rules.DEFAULT_MAX_CHARACTERS
    characters_reserved_per_url: int = rules.URL_CHARACTERS


class _Text(HTMLParser):
    """Status ``content`` (HTML) back to the text that was posted: ``<br>`` a line break,
    a new ``<p>`` a blank line; a link's visible and hidden spans joined into the URL."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._paragraphs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")
        elif tag == "p":
            if self._paragraphs:
                self.out.append("\n\n")
            self._paragraphs += 1

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def plain_text(content: str) -> str:
    """The text of a status' HTML ``content``."""
    parser = _Text()
    parser.feed(content)
    parser.close()
    return html.unescape("".join(parser.out))


def comparable(text: str) -> str:
    """Text as a match is judged: NFC, remote mentions by their local part (as Mastodon
    renders them), runs of blanks as one space."""
    text = unicodedata.normalize("NFC", text)
    text = _REMOTE_MENTION.sub(r"\1@\2", text)
    return " ".join(text.split())


class MastodonPlatform:
    """Mastodon, on any instance."""

    name = "mastodon"
    # max_length: Mastodon's default 500; each instance may allow more
    # (``instance_limits``). URLs count 23, so the length is "weighted".
    # 300 statuses per 3 hours per account: Mastodon's "statuses" rate limiter family
    # (app/lib/rate_limiter.rb; https://docs.joinmastodon.org/api/rate-limits/).
    limits = Limits(
        max_length=rules.DEFAULT_MAX_CHARACTERS,
        weighted_length=True,
        supports_threads=True,
        posts_per_window_per_user=300,
        window_seconds=3 * 3600,
    )

    def __init__(
        self,
        *,
        routes: dict[str, str] | None = None,
        timeout: float = 30.0,
        pool_size: int = 32,
        client_name: str = CLIENT_NAME,
        website: str | None = None,
    ) -> None:
        self._routes = normalise_routes(routes)
        self._timeout = timeout
        self.client_name = client_name
        self.website = website
        self.session = session_for(self._routes or None, pool_size=pool_size, timeout=timeout)
        self._instances: dict[str, tuple[float, InstanceLimits]] = {}
        self._lock = threading.Lock()

    def client(
        self,
        server: str,
        token: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> Any:
        """Mastodon.py's client for ``server`` on the adapter's session (cheap, no I/O;
        built per call so no token is shared between threads)."""
        from mastodon import Mastodon

        return Mastodon(
            client_id=client_id,
            client_secret=client_secret,
            access_token=token,
            api_base_url=rules.instance_url(server),
            session=self.session,
            ratelimit_method="throw",
            request_timeout=self._timeout,
            version_check_mode="none",
            user_agent=self.client_name,
        )

    def async_publisher(self, session: aiohttp.ClientSession) -> MastodonAsyncPublisher:
        """Statuses on asyncio, for bursts (bot/delivery/dispatcher.py)."""
        return MastodonAsyncPublisher(session, self._routes or None)

    # -- Platform ----------------------------------------------------------------------

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
        idempotency_key: str | None = None,
        record_key: str | None = None,  # unused: the instance names its own statuses
    ) -> Published:
        call = rules.publish_call(
            creds,
            text,
            link=link,
            reply_to=reply_to,
            publish_at=publish_at,
            idempotency_key=idempotency_key,
        )
        published = carry_out(self.session, call)
        logger.info(
            "published Mastodon status %s for account %s",
            published.platform_id,
            creds.platform_user_id,
        )
        return published

    def find_recent(
        self,
        creds: Credentials,
        text: str,
        since: datetime,
        *,
        link: str | None = None,
        record_key: str | None = None,  # unused: the instance names its own statuses
    ) -> Published | None:
        """The account's own statuses (GET /api/v1/accounts/:id/statuses, newest first,
        reblogs left out) back to ``since``, for one whose text is the one ``publish``
        sends for (``text``, ``link``)."""
        _require_server(creds)
        wanted = comparable(rules.status_text(text, link))
        client = self.client(creds.server, creds.token)
        page = sdk_call(
            "Mastodon account statuses",
            lambda: client.account_statuses(
                local_id(creds.platform_user_id), exclude_reblogs=True, limit=40
            ),
            creds.token,
            client,
        )
        for _ in range(LOOK_MAX_PAGES):
            if not page:
                return None
            for status in page:
                created = _aware(status.get("created_at"))
                if created is not None and created < since:
                    return None
                if comparable(plain_text(str(status.get("content") or ""))) == wanted:
                    return rules.published_from(dict(status), rules.status_text(text, link))
            page = sdk_call(
                "Mastodon account statuses", partial(client.fetch_next, page), creds.token, client
            )
        raise look_ran_out("Mastodon account statuses", LOOK_MAX_PAGES)

    def verify(self, creds: Credentials) -> AccountInfo:
        """GET /api/v1/accounts/verify_credentials: whose token this is."""
        _require_server(creds)
        client = self.client(creds.server, creds.token)
        account = sdk_call(
            "Mastodon verify_credentials", client.account_verify_credentials, creds.token, client
        )
        if not account or not account.get("id"):
            raise TransientError("Mastodon verify: unreadable answer")
        host = rules.instance_url(creds.server).split("://", 1)[1]
        acct = str(account.get("acct") or account.get("username") or account["id"])
        handle = acct if "@" in acct else f"{acct}@{host}"
        followers = account.get("followers_count")
        return AccountInfo(
            platform_user_id=f"{account['id']}@{host}",
            handle=handle,
            name=str(account.get("display_name") or account.get("username") or ""),
            followers=int(followers) if isinstance(followers, int) else None,
        )

    def instance_limits(self, server: str) -> InstanceLimits:
        """The instance's own status limits (GET /api/v2/instance), kept for an hour;
        Mastodon's defaults when the instance does not say (an older server without v2)."""
        base = rules.instance_url(server)
        now = time.monotonic()
        with self._lock:
            cached = self._instances.get(base)
        if cached is not None and now - cached[0] < INSTANCE_TTL_S:
            return cached[1]
        client = self.client(base)
        try:
            info = sdk_call("Mastodon instance", client.instance_v2, "", client)
        except PermanentError:  # 404: no v2 (Mastodon < 4.0): the defaults apply
            info = {}
        config = info.get("configuration") if isinstance(info, dict) else None
        statuses = config.get("statuses") if isinstance(config, dict) else None
        statuses = statuses if isinstance(statuses, dict) else {}
        limits = InstanceLimits(
            max_characters=_positive(statuses.get("max_characters"), rules.DEFAULT_MAX_CHARACTERS),
            characters_reserved_per_url=_positive(
                statuses.get("characters_reserved_per_url"), rules.URL_CHARACTERS
            ),
        )
        with self._lock:
            self._instances[base] = (now, limits)
        return limits

    def check_text(self, server: str, text: str) -> str | None:
        """None when ``text`` (link already added) fits the instance, else what to fix."""
        from bot.campaigns import text_rules

        limit = self.instance_limits(server).max_characters
        return text_rules.check("mastodon", text, max_length=limit)

    # -- OAuth 2 (campaign accounts and supporters) -------------------------------------

    def register_app(
        self, server: str, redirect_uri: str, scopes: Sequence[str] = SCOPES
    ) -> tuple[str, str]:
        """POST /api/v1/apps: this Clarion as an app on ``server`` -> (client id, secret).
        Done once per instance and cached by the caller
        (https://docs.joinmastodon.org/methods/apps/#create)."""
        from mastodon import Mastodon

        try:
            client_id, client_secret = sdk_call(
                "Mastodon app registration",
                lambda: Mastodon.create_app(
                    self.client_name,
                    scopes=list(scopes),
                    redirect_uris=redirect_uri,
                    website=self.website,
                    api_base_url=rules.instance_url(server),
                    request_timeout=self._timeout,
                    session=self.session,
                    user_agent=self.client_name,
                ),
                "",
                None,
            )
        except (KeyError, TypeError):
            raise PermanentError(
                f"{server} did not register Clarion as an app: is it a Mastodon server?"
            ) from None
        return str(client_id), str(client_secret)

    def authorize_url(
        self,
        server: str,
        client_id: str,
        redirect_uri: str,
        state: str,
        scopes: Sequence[str] = SCOPES,
    ) -> str:
        """Where to send the person to sign in and grant ``scopes`` (the instance's
        /oauth/authorize), rerouted like every other request (to the sandbox in
        rehearsals)."""
        # Mastodon.py wants a secret beside an id; building the URL never sends it.
        client = self.client(server, client_id=client_id, client_secret="unused")  # noqa: S106
        url = sdk_call(
            "Mastodon authorize URL",
            lambda: client.auth_request_url(
                redirect_uris=redirect_uri, scopes=list(scopes), state=state, force_login=True
            ),
            "",
            client,
        )
        return reroute_url(str(url), self._routes)

    def exchange_code(
        self,
        server: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        code: str,
        scopes: Sequence[str] = SCOPES,
    ) -> str:
        """POST /oauth/token with the code the instance redirected back with -> the
        user's access token (refused unless every scope asked for was granted)."""
        from mastodon.errors import MastodonIllegalArgumentError

        client = self.client(server, client_id=client_id, client_secret=client_secret)
        try:
            token = sdk_call(
                "Mastodon token exchange",
                lambda: client.log_in(code=code, redirect_uri=redirect_uri, scopes=list(scopes)),
                client_secret,
                client,
            )
        except MastodonIllegalArgumentError:
            # Mastodon.py folds every refusal of the code into this; its text quotes the
            # server's answer, which may hold the code: not repeated here.
            raise AuthError(
                "the Mastodon server refused the sign-in (the code expired or was already "
                "used): sign in again"
            ) from None
        return str(token)

    def revoke(self, creds: Credentials, client_id: str, client_secret: str) -> None:
        """POST /oauth/revoke (RFC 7009, https://docs.joinmastodon.org/methods/oauth/#revoke)
        with the app the token was issued to: the token stops working at once. The
        instance answers 200 for a token it no longer knows, and 403 when the token was
        issued to another app (Doorkeeper), classified as an AuthError."""
        _require_server(creds)
        client = self.client(
            creds.server, creds.token, client_id=client_id, client_secret=client_secret
        )
        sdk_call("Mastodon token revocation", client.revoke_access_token, creds.token, client)


def local_id(platform_user_id: str) -> str:
    """The account's id on its instance. Clarion keys a Mastodon account as ``id@host``
    (``verify``): ids are only unique within one instance."""
    return platform_user_id.split("@", 1)[0]


def _require_server(creds: Credentials) -> None:
    if not creds.server:
        raise AuthError("this Mastodon account has no server: connect it again")


def _positive(value: Any, default: int) -> int:
    return value if isinstance(value, int) and value > 0 else default


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def sdk_call(action: str, call: Callable[[], T], secret: str, client: Any) -> T:
    """Run one Mastodon.py call and classify what it raises, once (``errors``)."""
    from mastodon.errors import (
        MastodonAPIError,
        MastodonNetworkError,
        MastodonRatelimitError,
    )

    try:
        return call()
    except MastodonNetworkError as exc:
        cause = exc.__context__
        if isinstance(cause, requests.RequestException):
            raise classify_transport_error(cause, action=action, idempotent=True) from None
        if isinstance(cause, ValueError):  # an answer that is not JSON
            raise TransientError(f"{action}: unreadable answer", code="json") from None
        raise TransientError(f"{action}: network error", code=type(cause).__name__) from None
    except MastodonRatelimitError:
        reset = getattr(client, "ratelimit_reset", None)
        wait = max(1.0, float(reset) - time.time()) if reset else DEFAULT_RATE_LIMIT_WAIT
        raise TransientError(
            f"{action}: Mastodon rate limit reached",
            code=429,
            retry_after=wait,
            rate_limited=True,
        ) from None
    except MastodonAPIError as exc:
        status = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else None
        if status is None:
            raise TransientError(f"{action}: unreadable answer", code="json") from None
        detail = exc.args[3] if len(exc.args) > 3 else None
        error: PlatformError = classify_mastodon_response(
            status, {"error": detail} if detail else None, secrets=(secret,)
        )
        raise error from None
