"""Bluesky's rules for a post, as pure functions: build the request, read the answer.

A post is a record of type ``app.bsky.feed.post`` written to the account's repository on
its PDS by ``com.atproto.repo.createRecord`` (https://docs.bsky.app/docs/advanced-guides/posts),
under a record key chosen by Clarion before the request and kept in the ledger
(``Delivery.record_key``): a repeated attempt names the same record, which the PDS holds at
most once, and a lost answer is settled by reading that record (``get_record_call``).

Records and answers are the atproto SDK's lexicon models (``bot.platforms.bluesky.lexicon``):
a record is built as the SDK's ``AppBskyFeedPost.Record``, validated with its string
formats and dumped by the SDK, so a record the lexicon refuses is a PermanentError here,
before any request; answers are read into the SDK's output models, and XRPC method names
are the SDK's NSIDs. The bytes are moved by our transports (``bot.platforms.http``), the
same request on the threaded and the asyncio path.

- text: at most 300 graphemes (the lexicon's ``maxGraphemes``; checked at queue time by
  ``bot.campaigns.text_rules``);
- links and hashtags are facets with UTF-8 **byte** offsets
  (https://docs.bsky.app/docs/advanced-guides/post-richtext), found by the SDK's port of
  the official detector (``atproto_client.utils.detect_facets``);
- the campaign link is a link card (``app.bsky.embed.external``) rather than text;
- a thread part is a reply naming both the thread's first post (``root``) and the part
  before it (``parent``), each by URI and CID (``com.atproto.repo.strongRef``).

Authentication is added here, over the real URL (``authorize``), like X's signature: a
bearer access JWT for app-password sessions, a DPoP-bound token and proof for OAuth ones.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.platforms.base import (
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    Published,
)
from bot.platforms.bluesky.errors import classify_bluesky_response
from bot.platforms.bluesky.lexicon import LexiconError, atproto
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.record_keys import is_tid, new_record_key

logger = logging.getLogger(__name__)

# The SDK's ``ids.AppBskyFeedPost``, spelled out so that naming a post's URI does not
# import the SDK (tests/platforms/bluesky/test_rules.py keeps the two equal).
POST_COLLECTION = "app.bsky.feed.post"
PUBLISH_ACTION = "Bluesky publish"
BSKY_APP = "https://bsky.app"
# The AppView's public, unauthenticated endpoint for reads of public data
# (https://docs.bsky.app/docs/advanced-guides/api-directory).
PUBLIC_APPVIEW = "https://public.api.bsky.app"
# app.bsky.feed.getPosts: "List of post AT-URIs to return hydrated views for", maxLength 25.
MAX_URIS_PER_CALL = 25


class AuthorizeRequest:
    """Signs a request for a session: ``(session, method, url) -> headers``. App-password
    sessions send their access JWT as a bearer token; OAuth sessions a DPoP-bound token
    and a proof (``bot.platforms.bluesky.oauth.authorize_request``)."""

    def __call__(self, session: Mapping[str, Any], method: str, url: str) -> dict[str, str]:
        if session.get("auth") == "oauth":
            # The OAuth sign-in's module, imported by name: it signs with DPoP and
            # refreshes its own tokens.
            oauth = importlib.import_module("bot.platforms.bluesky.oauth")
            headers: dict[str, str] = oauth.authorize_request(session, method, url)
            return headers
        return {"Authorization": f"Bearer {session['access_token']}"}

    def observe(self, session: Mapping[str, Any], url: str, response: HttpResponse) -> None:
        """Hand an OAuth session's answer to the OAuth module (its ``observe_response``,
        when it has one): the PDS sends a fresh ``DPoP-Nonce`` on its answers, which the
        next request must carry."""
        if session.get("auth") != "oauth":
            return
        oauth = importlib.import_module("bot.platforms.bluesky.oauth")
        hook = getattr(oauth, "observe_response", None)
        if hook is not None:
            hook(session, url, dict(response.headers))


authorize = AuthorizeRequest()


def asks_for_nonce(session: Mapping[str, Any], response: HttpResponse) -> bool:
    """Whether ``response`` refused an OAuth session's request only for want of the
    server's current DPoP nonce (401 ``use_dpop_nonce``, RFC 9449 section 9)."""
    if session.get("auth") != "oauth":
        return False
    oauth = importlib.import_module("bot.platforms.bluesky.oauth")
    challenged: bool = oauth.is_nonce_challenge(response.status, response.headers, response.body)
    return challenged


def signed_again(session: Mapping[str, Any], request: HttpRequest) -> HttpRequest:
    """``request`` with a new DPoP proof (and the nonce noted since): the same body, URL
    and method, so the same record key."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in ("authorization", "dpop")
    }
    headers.update(authorize(session, request.method, request.url))
    return dataclasses.replace(request, headers=headers)


def xrpc_url(base: str, method: str, params: Mapping[str, str] | None = None) -> str:
    query = f"?{urlencode(params)}" if params else ""
    return f"{base.rstrip('/')}/xrpc/{method}{query}"


def split_uri(uri: str) -> tuple[str, str, str]:
    """(repo DID, collection, record key) of ``at://did/collection/rkey``."""
    if not uri.startswith("at://"):
        raise PermanentError(f"not a Bluesky post URI: {uri!r}")
    parts = uri[len("at://") :].split("/")
    if len(parts) != 3 or not all(parts):
        raise PermanentError(f"not a Bluesky post URI: {uri!r}")
    return parts[0], parts[1], parts[2]


def post_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_COLLECTION}/{rkey}"


def post_url(handle: str | None, did: str, rkey: str) -> str:
    """Where people see the post (bsky.app takes a handle or the DID)."""
    return f"{BSKY_APP}/profile/{handle or did}/post/{rkey}"


def facets(text: str) -> list[dict[str, Any]]:
    """Link and hashtag facets of ``text``, with UTF-8 byte offsets, as JSON."""
    sdk = atproto()
    return [sdk.as_dict(facet) for facet in sdk.detect_facets(text)]


def link_card(link: str) -> dict[str, Any]:
    """A link card for ``link`` (``app.bsky.embed.external``). The card's title is the
    link's address: fetching the page for its title would be a request per post from
    every account at once."""
    shown = urlsplit(link)
    title = (shown.netloc + shown.path.rstrip("/")) or link
    return {
        "$type": atproto().ids.AppBskyEmbedExternal,
        "external": {"uri": link, "title": title, "description": ""},
    }


def timestamp(moment: datetime) -> str:
    """An atproto datetime (https://atproto.com/specs/lexicon#datetime): UTC, milliseconds, Z."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def post_record(
    text: str,
    *,
    created_at: datetime,
    link: str | None = None,
    reply: Mapping[str, Any] | None = None,
) -> Any:
    """The ``app.bsky.feed.post`` record for ``text``: the SDK's ``Record`` model,
    validated against the lexicon with its string formats; PermanentError naming the
    field when the lexicon refuses it (nothing is sent: the PDS would refuse it too)."""
    sdk = atproto()
    data: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": timestamp(created_at),
    }
    found = sdk.detect_facets(text)
    if found:
        data["facets"] = found
    if link:
        data["embed"] = link_card(link)
    if reply is not None:
        data["reply"] = dict(reply)
    try:
        return sdk.parse(data, sdk.models.AppBskyFeedPost.Record, what="the post")
    except LexiconError as exc:
        raise PermanentError(
            f"would be refused by Bluesky ({POST_COLLECTION} lexicon): {exc.detail}",
            code="InvalidRecord",
        ) from None


def record_problem(text: str, link: str | None = None) -> str | None:
    """What the lexicon refuses in a post of ``text`` with the card for ``link``, or None:
    the queue's check, so a post Bluesky would refuse is not queued."""
    try:
        post_record(text, created_at=datetime.now(UTC), link=link)
    except PermanentError as exc:
        return exc.message
    return None


def reply_refs(parent: Any) -> dict[str, Any]:
    """``reply`` for a post answering ``parent`` (a getRecord answer, ``read_record_response``):
    its root is the parent's own root when the parent is itself a reply."""
    ref = {"uri": parent.uri, "cid": parent.cid}
    root = ref
    value = parent.value
    if isinstance(value, atproto().models.AppBskyFeedPost.Record) and value.reply is not None:
        root = {"uri": value.reply.root.uri, "cid": value.reply.root.cid}
    return {"root": root, "parent": ref}


def create_url(session: Mapping[str, Any]) -> str:
    return xrpc_url(session["pds_url"], atproto().ids.ComAtprotoRepoCreateRecord)


def build_post_request(session: Mapping[str, Any], record: Any, record_key: str) -> HttpRequest:
    """``com.atproto.repo.createRecord`` of ``record`` (a ``post_record``, already
    validated) under ``record_key`` (a TID, checked by ``publish_call``), signed: the
    SDK's ``Data`` model, dumped by the SDK."""
    sdk = atproto()
    body = sdk.models.ComAtprotoRepoCreateRecord.Data(
        repo=session["did"], collection=POST_COLLECTION, rkey=record_key, record=record
    )
    url = create_url(session)
    headers = {"Content-Type": "application/json", **authorize(session, "POST", url)}
    return HttpRequest(
        "POST",
        url,
        headers,
        sdk.as_json(body).encode(),
        action=PUBLISH_ACTION,
        idempotent=False,
    )


def _error(response: HttpResponse) -> PlatformError:
    return classify_bluesky_response(response.status, json_or_none(response.body), response.headers)


def read_answer(response: HttpResponse, model: Any, what: str) -> Any:
    """A successful XRPC answer as the SDK's model for it, or the classified error. An
    answer the model cannot read is a bad gateway (transient): the PDS or AppView sent
    something that is not the lexicon's output."""
    if not response.ok:
        raise _error(response)
    try:
        return atproto().parse(json_or_none(response.body), model, what=what)
    except LexiconError as exc:
        raise classify_bluesky_response(502, {"message": str(exc)[:300]}, None) from None


def read_post_response(
    response: HttpResponse, *, session: Mapping[str, Any], record_key: str, text: str
) -> Published:
    """The post created, or the classified error (``BLUESKY_ERROR_TABLE``)."""
    if not response.ok:
        raise _error(response)
    sdk = atproto()
    try:
        created = sdk.parse(
            json_or_none(response.body),
            sdk.models.ComAtprotoRepoCreateRecord.Response,
            what="createRecord's answer",
        )
    except LexiconError:
        # Accepted, but which record? Ours is under our key: the ledger reads it.
        raise OutcomeUnknown(
            f"Bluesky accepted the post (HTTP {response.status}) but its URI was unreadable",
            code=response.status,
        ) from None
    did, _, rkey = split_uri(created.uri)
    return Published(
        platform_id=created.uri, url=post_url(session.get("handle"), did, rkey), text=text
    )


def publish_call(
    session: Mapping[str, Any],
    text: str,
    *,
    link: str | None = None,
    reply: Mapping[str, Any] | None = None,
    publish_at: datetime | None = None,
    record_key: str | None = None,
    created_at: datetime | None = None,
) -> Call[Published]:
    """One post (or thread part, with ``reply`` from ``reply_refs``) for ``session``.

    Without ``record_key`` a fresh key is chosen here, and a lost answer can then only be
    settled by searching the account's posts.
    """
    if publish_at is not None:
        raise PermanentError(
            "Bluesky cannot hold a post for later: Clarion must send it at the time instead"
        )
    key = record_key or new_record_key()
    if not is_tid(key):
        raise PermanentError(f"record key {key!r} is not a TID (atproto.com/specs/tid)")
    record = post_record(text, created_at=created_at or datetime.now(UTC), link=link, reply=reply)
    request = build_post_request(session, record, key)
    return Call(request, partial(read_post_response, session=session, record_key=key, text=text))


def get_record_call(session: Mapping[str, Any], uri: str) -> Call[Any]:
    """``com.atproto.repo.getRecord`` of ``uri``: the SDK's ``GetRecord.Response`` (uri,
    cid, value: a post's ``Record`` model when it is a valid post), or None when the
    record is not there (``RecordNotFound``). A public read, sent to the account's PDS."""
    did, collection, rkey = split_uri(uri)
    url = xrpc_url(
        session["pds_url"],
        atproto().ids.ComAtprotoRepoGetRecord,
        {"repo": did, "collection": collection, "rkey": rkey},
    )
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky record lookup", idempotent=True
    )
    return Call(request, read_record_response)


def read_record_response(response: HttpResponse) -> Any:
    if not response.ok:
        parsed = json_or_none(response.body)
        name = parsed.get("error") if isinstance(parsed, dict) else None
        if response.status in (400, 404) and name == "RecordNotFound":
            return None
    model = atproto().models.ComAtprotoRepoGetRecord.Response
    return read_answer(response, model, "getRecord's answer")


def post_value(value: Any) -> Any:
    """``value`` when it is a valid ``app.bsky.feed.post`` record (the SDK's model),
    else None: a record the SDK could not read as a post is left as a plain mapping."""
    record = atproto().models.AppBskyFeedPost.Record
    return value if isinstance(value, record) else None


def list_records_call(session: Mapping[str, Any], cursor: str | None = None) -> Call[Any]:
    """``com.atproto.repo.listRecords`` of the account's posts, newest first: the SDK's
    ``ListRecords.Response``."""
    params = {"repo": session["did"], "collection": POST_COLLECTION, "limit": "100"}
    if cursor:
        params["cursor"] = cursor
    sdk = atproto()
    url = xrpc_url(session["pds_url"], sdk.ids.ComAtprotoRepoListRecords, params)
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky post lookup", idempotent=True
    )
    model = sdk.models.ComAtprotoRepoListRecords.Response
    return Call(request, partial(read_answer, model=model, what="listRecords' answer"))


def get_session_call(session: Mapping[str, Any]) -> Call[Any]:
    """``com.atproto.server.getSession``: whose the token is (did, handle)."""
    sdk = atproto()
    url = xrpc_url(session["pds_url"], sdk.ids.ComAtprotoServerGetSession)
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky verify", idempotent=True
    )
    model = sdk.models.ComAtprotoServerGetSession.Response
    return Call(request, partial(read_answer, model=model, what="getSession's answer"))


def get_profile_call(actor: str, appview: str = PUBLIC_APPVIEW) -> Call[Any]:
    """``app.bsky.actor.getProfile`` on the public AppView: display name, followers (the
    SDK's ``ProfileViewDetailed``)."""
    sdk = atproto()
    url = xrpc_url(appview, sdk.ids.AppBskyActorGetProfile, {"actor": actor})
    model = sdk.models.AppBskyActorDefs.ProfileViewDetailed
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky profile", idempotent=True),
        partial(read_answer, model=model, what="getProfile's answer"),
    )


def get_posts_call(uris: list[str], appview: str = PUBLIC_APPVIEW) -> Call[list[Any]]:
    """``app.bsky.feed.getPosts`` for up to 25 URIs: their like/repost/reply/quote counts,
    as the SDK's ``PostView`` models (``read_posts_response``)."""
    if len(uris) > MAX_URIS_PER_CALL:
        raise ValueError(f"getPosts takes at most {MAX_URIS_PER_CALL} URIs, not {len(uris)}")
    query = urlencode([("uris", uri) for uri in uris])
    url = f"{appview}/xrpc/{atproto().ids.AppBskyFeedGetPosts}?{query}"
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky engagement", idempotent=True),
        read_posts_response,
    )


def read_posts_response(response: HttpResponse) -> list[Any]:
    """The post views of a getPosts answer. Each view is read on its own: one the SDK
    cannot read is left out (its post then reads as gone) rather than losing the batch."""
    if not response.ok:
        raise _error(response)
    parsed = json_or_none(response.body)
    posts = parsed.get("posts") if isinstance(parsed, dict) else None
    if not isinstance(posts, list):
        raise classify_bluesky_response(502, {"message": "unreadable getPosts answer"}, None)
    sdk = atproto()
    views = []
    for post in posts:
        try:
            views.append(sdk.parse(post, sdk.models.AppBskyFeedDefs.PostView, what="a post view"))
        except LexiconError as exc:
            logger.warning("skipped a Bluesky post view the SDK cannot read: %s", exc)
    return views


def refresh_call(session: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """``com.atproto.server.refreshSession`` for an app-password session: the refresh JWT
    as the bearer; the answer holds a new accessJwt and refreshJwt
    (https://docs.bsky.app/docs/api/com-atproto-server-refresh-session)."""
    url = xrpc_url(session["pds_url"], atproto().ids.ComAtprotoServerRefreshSession)
    request = HttpRequest(
        "POST",
        url,
        {"Authorization": f"Bearer {session['refresh_token']}"},
        action="Bluesky session refresh",
        idempotent=True,
    )
    return Call(request, partial(read_refresh_response, session=session))


def read_refresh_response(response: HttpResponse, *, session: Mapping[str, Any]) -> dict[str, Any]:
    model = atproto().models.ComAtprotoServerRefreshSession.Response
    answer = read_answer(response, model, "refreshSession's answer")
    fresh = dict(session)
    fresh.update(
        access_token=answer.access_jwt, refresh_token=answer.refresh_jwt, handle=answer.handle
    )
    return fresh


def did_document_call(did: str) -> Call[dict[str, Any]]:
    """The DID document (plc.directory for did:plc, /.well-known/did.json for did:web)."""
    if did.startswith("did:plc:"):
        url = f"https://plc.directory/{did}"
    elif did.startswith("did:web:"):
        url = f"https://{did[len('did:web:') :]}/.well-known/did.json"
    else:
        raise PermanentError(f"unsupported DID method: {did!r}")
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky DID lookup", idempotent=True),
        read_json_response,
    )


def read_json_response(response: HttpResponse) -> dict[str, Any]:
    parsed = json_or_none(response.body)
    if not response.ok:
        raise _error(response)
    if not isinstance(parsed, dict):
        raise classify_bluesky_response(502, {"message": "unreadable answer"}, None)
    return parsed


def pds_of(document: Mapping[str, Any]) -> str | None:
    """The PDS a DID document names (service ``#atproto_pds`` of type
    ``AtprotoPersonalDataServer``), read by the SDK's ``DidDocument``."""
    from atproto_core.did_doc import DidDocument

    try:
        endpoint = DidDocument.from_dict(dict(document)).get_pds_endpoint()
    except ValueError:  # pydantic's ValidationError: not a DID document
        return None
    return endpoint.rstrip("/") if isinstance(endpoint, str) else None
