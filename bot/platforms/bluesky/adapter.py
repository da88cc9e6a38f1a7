"""Bluesky (AT Protocol) adapter: posts are records written to the account's own PDS.

Every post and read is built and read by ``bot.platforms.bluesky.rules`` (through the
atproto SDK's lexicon models) and sent on the adapter's pooled requests session
(``http.send``), so both transports send the same bytes and failures are classified
once, by us. Signing in with an app password and resolving a handle on the AppView go
through the SDK's own ``Client`` (``sdk_client``), on the same routes. One attempt per
call: the only extra requests are reads a post needs first (refreshing a session about
to expire, the parent of a thread part for its CID and root) and, for an OAuth session,
the resend of a request the server refused only to hand over its DPoP nonce
(``signed_call``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp

from bot.platforms.base import (
    LOOK_MAX_PAGES,
    AccountInfo,
    Credentials,
    Limits,
    PermanentError,
    Published,
    look_ran_out,
)
from bot.platforms.bluesky import credentials, rules
from bot.platforms.bluesky.async_publish import BlueskyAsyncPublisher
from bot.platforms.bluesky.lexicon import atproto
from bot.platforms.bluesky.sessions import OAuthRefresh, OnRefresh, Sessions
from bot.platforms.http import Call, HttpRequest, carry_out, send, session_for

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Bluesky's write limits per account (https://docs.bsky.app/docs/advanced-guides/rate-limits,
# "Repo Write Limits"): 5,000 points per hour and 35,000 per day, a create costing 3
# points: 1,666 posts an hour, 11,666 a day. Per IP address, the PDS allows 3,000
# requests per 5 minutes (same page): a server posting for thousands of accounts on one
# PDS (bsky.social) must spread them.
WRITE_POINTS_PER_HOUR = 5000
WRITE_POINTS_PER_DAY = 35000
CREATE_POINTS = 3
REQUESTS_PER_IP_PER_5_MINUTES = 3000


def utcnow() -> datetime:
    return datetime.now(UTC)


class BlueskyPlatform:
    """Bluesky. ``creds`` hold a session (``credentials.pack``); ``platform_user_id`` is
    the account's DID and a post's ``platform_id`` its ``at://`` URI."""

    name = "bluesky"
    # 300 graphemes: app.bsky.feed.post lexicon, ``text`` maxGraphemes 300.
    limits = Limits(
        max_length=300,
        weighted_length=False,
        supports_threads=True,
        posts_per_window_per_user=WRITE_POINTS_PER_HOUR // CREATE_POINTS,
        window_seconds=3600,
        client_record_keys=True,
    )

    def __init__(
        self,
        *,
        routes: dict[str, str] | None = None,
        appview_url: str = rules.PUBLIC_APPVIEW,
        timeout: float = 30.0,
        pool_size: int = 32,
        on_refresh: OnRefresh | None = None,
        oauth_refresh: OAuthRefresh | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """``on_refresh`` stores an app-password session the adapter refreshed;
        ``oauth_refresh`` refreshes (and stores) an OAuth session about to expire — the
        pledges' sessions, whose single-use refresh tokens only the database may spend
        (``bot.pledges.oauth_sessions.fresh_credentials``)."""
        self._routes = routes or None
        self.appview_url = appview_url
        self.timeout = timeout
        self.session = session_for(self._routes, pool_size=pool_size, timeout=timeout)
        self.sessions = Sessions(on_refresh, oauth_refresh)
        self.clock = clock  # stamps each record's createdAt
        atproto.warm_up()

    def async_publisher(self, session: aiohttp.ClientSession) -> BlueskyAsyncPublisher:
        """Single posts on asyncio, for bursts; ``session`` belongs to the caller's loop."""
        return BlueskyAsyncPublisher(
            session, routes=self._routes, sessions=self.sessions, clock=self.clock
        )

    def account(self, creds: Credentials) -> dict[str, Any]:
        """The account's session, refreshed first when its access token is about to expire."""
        account = self.sessions.current(creds)
        if self.sessions.oauth_due(account):
            return credentials.unpack(self.sessions.refresh_oauth(creds))
        if self.sessions.needs_refresh(account):
            with self.sessions.refresh_lock(creds):
                account = self.sessions.current(creds)  # another thread may have done it
                if self.sessions.needs_refresh(account):
                    account = carry_out(self.session, rules.refresh_call(account))
                    self.sessions.refreshed(creds, account)
        return account

    def signed_call(self, account: dict[str, Any], call: Call[T]) -> T:
        """Carry out a call signed for ``account``; keep the DPoP nonce its answer carries.

        A 401 ``use_dpop_nonce`` is sent once more, at once, with the nonce it carried:
        that refusal is a step of the DPoP handshake, not a failure — the server rejects
        the request before acting on it and hands over the nonce it wants, which the
        client is to put in a new proof and retry (RFC 9449 section 8, and section 9 for
        resource servers such as a PDS). So it is not one of the retries that belong to
        bot/delivery/: nothing was created, and the same record key goes again. Once:
        a second challenge is classified as any answer is (``errors``)."""
        response = send(self.session, call.request)
        rules.authorize.observe(account, call.request.url, response)
        if rules.asks_for_nonce(account, response):
            response = send(self.session, rules.signed_again(account, call.request))
            rules.authorize.observe(account, call.request.url, response)
        return call.read(response)

    # -- Platform ----------------------------------------------------------------------

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,
        idempotency_key: str | None = None,  # record keys make repeats harmless instead
    ) -> Published:
        if publish_at is not None:  # before any request: refused in the rules' words
            rules.publish_call({}, text, publish_at=publish_at)
        account = self.account(creds)
        reply = None
        if reply_to is not None:
            parent = self.signed_call(account, rules.get_record_call(account, reply_to))
            if parent is None:
                raise PermanentError(
                    f"the post this thread part answers is gone from Bluesky ({reply_to})"
                )
            reply = rules.reply_refs(parent)
        call = rules.publish_call(
            account, text, link=link, reply=reply, record_key=record_key, created_at=self.clock()
        )
        published = self.signed_call(account, call)
        logger.info("published Bluesky post %s", published.platform_id)
        return published

    def find_recent(
        self,
        creds: Credentials,
        text: str,
        since: datetime,
        *,
        link: str | None = None,
        record_key: str | None = None,
    ) -> Published | None:
        """With ``record_key`` (the ledger always has one): read that one record; it is
        ours whatever it says, since no one else writes under a key we chose. Without:
        the account's recent posts with exactly ``text``, created since ``since``."""
        account = self.account(creds)
        did = account["did"]
        if record_key is not None:
            uri = rules.post_uri(did, record_key)
            found = self.signed_call(account, rules.get_record_call(account, uri))
            if found is None:
                return None
            return _published(account, found)
        cursor: str | None = None
        for _ in range(LOOK_MAX_PAGES):
            page = self.signed_call(account, rules.list_records_call(account, cursor))
            for item in page.records:
                value = rules.post_value(item.value)
                if value is None:
                    continue  # not a post the lexicon reads: none of ours
                created = _parse_time(value.created_at)
                if created is not None and created < since:
                    return None  # newest first: nothing older can be ours
                if value.text == text and _card_uri(value) == link:
                    return _published(account, item)
            cursor = page.cursor
            if not cursor:
                return None
        raise look_ran_out("Bluesky listRecords", LOOK_MAX_PAGES)

    def verify(self, creds: Credentials) -> AccountInfo:
        account = self.account(creds)
        me = self.signed_call(account, rules.get_session_call(account))
        profile = carry_out(self.session, rules.get_profile_call(me.did, self.appview_url))
        return AccountInfo(
            platform_user_id=me.did,
            handle=me.handle,
            name=profile.display_name or me.handle,
            followers=profile.followers_count,
        )

    def sign_in(self, handle: str, app_password: str) -> Credentials:
        """An app-password session for the campaign's own account: the handle is resolved
        to its DID and PDS, and the session made on that PDS by the SDK's client."""
        from bot.platforms.bluesky import sdk_client  # httpx and the SDK's client, when used

        pds = self.resolve_pds(handle)
        session = sdk_client.sign_in(
            pds, handle, app_password, routes=self._routes, timeout=self.timeout
        )
        return credentials.pack(session)

    def resolve_pds(self, handle: str) -> str:
        """handle -> DID (the handle's own domain, /.well-known/atproto-did) -> DID
        document -> PDS (https://atproto.com/specs/handle#handle-resolution)."""
        did = self.resolve_handle(handle)
        document = carry_out(self.session, rules.did_document_call(did))
        pds = rules.pds_of(document)
        if pds is None:
            raise PermanentError(f"the DID document of {handle} names no PDS")
        return pds

    def resolve_handle(self, handle: str) -> str:
        url = f"https://{handle}/.well-known/atproto-did"
        answer = send(
            self.session,
            HttpRequest("GET", url, {}, action="Bluesky handle lookup", idempotent=True),
        )
        did = answer.body.decode("utf-8", "replace").strip() if answer.ok else ""
        if did.startswith("did:"):
            return did
        # Handles without that file publish a DNS TXT record instead: ask the AppView,
        # which resolves both.
        from bot.platforms.bluesky import sdk_client

        resolved = sdk_client.resolve_handle(
            handle, self.appview_url, routes=self._routes, timeout=self.timeout
        )
        if resolved is None:
            raise PermanentError(f"could not resolve the Bluesky handle {handle!r}")
        return resolved


def _card_uri(value: Any) -> str | None:
    """The link card's address of a post (the SDK's ``Record``), if it has one."""
    external = getattr(value.embed, "external", None)
    uri = getattr(external, "uri", None)
    return uri if isinstance(uri, str) else None


def _published(account: dict[str, Any], record: Any) -> Published:
    """A getRecord or listRecords item (the SDK's models) as what was published."""
    did, _, rkey = rules.split_uri(record.uri)
    value = rules.post_value(record.value)
    return Published(
        platform_id=record.uri,
        url=rules.post_url(account.get("handle"), did, rkey),
        text=value.text if value is not None else "",
        created_at=_parse_time(value.created_at) if value is not None else None,
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
