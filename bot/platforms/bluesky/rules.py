"""Bluesky's rules for a post, as pure functions: build the request, read the answer.

A post is a record of type ``app.bsky.feed.post`` written to the account's repository on
its PDS by ``com.atproto.repo.createRecord`` (https://docs.bsky.app/docs/advanced-guides/posts),
under a record key chosen by Clarion before the request and kept in the ledger
(``Delivery.record_key``): a repeated attempt names the same record, which the PDS holds at
most once, and a lost answer is settled by reading that record (``get_record_call``).

- text: at most 300 graphemes (the lexicon's ``maxGraphemes``; checked at queue time by
  ``bot.campaigns.text_rules``);
- links and hashtags are facets with UTF-8 **byte** offsets
  (https://docs.bsky.app/docs/advanced-guides/post-richtext), found by the atproto SDK's
  port of the official detector (``atproto_client.utils.detect_facets``);
- the campaign link is a link card (``app.bsky.embed.external``) rather than text;
- a thread part is a reply naming both the thread's first post (``root``) and the part
  before it (``parent``), each by URI and CID.

Authentication is added here, over the real URL (``authorize``), like X's signature: a
bearer access JWT for app-password sessions, a DPoP-bound token and proof for OAuth ones.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import threading
from collections.abc import Callable, Mapping
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
from bot.platforms.http.messages import Call, HttpRequest, HttpResponse, json_or_none
from bot.platforms.record_keys import is_tid, new_record_key

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


class FacetDetector:
    """The atproto SDK's facet detector, imported once, by one thread.

    atproto_client takes ~1.7 s to import and its modules import each other: two threads
    importing it at once can see a half-initialised module ("cannot import name
    'detect_facets'", seen with 16 delivery threads). So the first caller imports it
    under a lock and every other waits; the adapter starts that import in the background
    when it is built (``warm_up``), so no post waits for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detect: Callable[[str], list[Any]] | None = None
        self._as_dict: Callable[[Any], dict[str, Any]] | None = None

    def load(self) -> None:
        with self._lock:
            if self._detect is not None:
                return
            from atproto_client.models.utils import get_model_as_dict
            from atproto_client.utils import detect_facets

            self._as_dict = get_model_as_dict
            self._detect = detect_facets

    def warm_up(self) -> None:
        threading.Thread(target=self.load, name="atproto-import", daemon=True).start()

    def __call__(self, text: str) -> list[dict[str, Any]]:
        if self._detect is None:
            self.load()
        assert self._detect is not None and self._as_dict is not None  # noqa: S101
        return [self._as_dict(facet) for facet in self._detect(text)]


facet_detector = FacetDetector()


def facets(text: str) -> list[dict[str, Any]]:
    """Link and hashtag facets of ``text``, with UTF-8 byte offsets, as JSON."""
    return facet_detector(text)


def link_card(link: str) -> dict[str, Any]:
    """A link card for ``link``. The card's title is the link's address: fetching the
    page for its title would be a request per post from every account at once."""
    shown = urlsplit(link)
    title = (shown.netloc + shown.path.rstrip("/")) or link
    return {
        "$type": "app.bsky.embed.external",
        "external": {"uri": link, "title": title, "description": ""},
    }


def post_record(
    text: str,
    *,
    created_at: datetime,
    link: str | None = None,
    reply: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``app.bsky.feed.post`` record for ``text`` (lexicon fields, JSON-ready)."""
    record: dict[str, Any] = {
        "$type": POST_COLLECTION,
        "text": text,
        "createdAt": created_at.astimezone(UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    found = facets(text)
    if found:
        record["facets"] = found
    if link:
        record["embed"] = link_card(link)
    if reply is not None:
        record["reply"] = dict(reply)
    return record


def reply_refs(parent: Mapping[str, Any]) -> dict[str, Any]:
    """``reply`` for a post answering ``parent`` (a getRecord answer: uri, cid, value):
    its root is the parent's own root when the parent is itself a reply."""
    ref = {"uri": parent["uri"], "cid": parent["cid"]}
    value = parent.get("value")
    earlier = value.get("reply") if isinstance(value, dict) else None
    root = earlier.get("root") if isinstance(earlier, dict) else None
    if not (isinstance(root, dict) and root.get("uri") and root.get("cid")):
        root = ref
    return {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": ref}


def create_url(session: Mapping[str, Any]) -> str:
    return xrpc_url(session["pds_url"], "com.atproto.repo.createRecord")


def build_post_request(
    session: Mapping[str, Any], record: Mapping[str, Any], record_key: str
) -> HttpRequest:
    """``com.atproto.repo.createRecord`` of ``record`` under ``record_key``, signed."""
    url = create_url(session)
    body = {
        "repo": session["did"],
        "collection": POST_COLLECTION,
        "rkey": record_key,
        "record": record,
    }
    headers = {"Content-Type": "application/json", **authorize(session, "POST", url)}
    return HttpRequest(
        "POST",
        url,
        headers,
        json.dumps(body, ensure_ascii=False).encode(),
        action=PUBLISH_ACTION,
        idempotent=False,
    )


def _error(response: HttpResponse) -> PlatformError:
    return classify_bluesky_response(response.status, json_or_none(response.body), response.headers)


def read_post_response(
    response: HttpResponse, *, session: Mapping[str, Any], record_key: str, text: str
) -> Published:
    """The post created, or the classified error (``BLUESKY_ERROR_TABLE``)."""
    if not response.ok:
        raise _error(response)
    parsed = json_or_none(response.body)
    uri = parsed.get("uri") if isinstance(parsed, dict) else None
    if not isinstance(uri, str) or not uri.startswith("at://"):
        # Accepted, but which record? Ours is under our key: the ledger reads it.
        raise OutcomeUnknown(
            f"Bluesky accepted the post (HTTP {response.status}) but its URI was unreadable",
            code=response.status,
        )
    did, _, rkey = split_uri(uri)
    return Published(platform_id=uri, url=post_url(session.get("handle"), did, rkey), text=text)


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


def get_record_call(session: Mapping[str, Any], uri: str) -> Call[dict[str, Any] | None]:
    """``com.atproto.repo.getRecord`` of ``uri``: ``{uri, cid, value}``, or None when the
    record is not there (``RecordNotFound``). A public read, sent to the account's PDS."""
    did, collection, rkey = split_uri(uri)
    url = xrpc_url(
        session["pds_url"],
        "com.atproto.repo.getRecord",
        {"repo": did, "collection": collection, "rkey": rkey},
    )
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky record lookup", idempotent=True
    )
    return Call(request, read_record_response)


def read_record_response(response: HttpResponse) -> dict[str, Any] | None:
    parsed = json_or_none(response.body)
    if not response.ok:
        name = parsed.get("error") if isinstance(parsed, dict) else None
        if response.status in (400, 404) and name == "RecordNotFound":
            return None
        raise _error(response)
    if not isinstance(parsed, dict) or not parsed.get("uri") or not parsed.get("cid"):
        raise classify_bluesky_response(502, {"message": "unreadable record"}, None)
    return parsed


def list_records_call(
    session: Mapping[str, Any], cursor: str | None = None
) -> Call[dict[str, Any]]:
    """``com.atproto.repo.listRecords`` of the account's posts, newest first."""
    params = {"repo": session["did"], "collection": POST_COLLECTION, "limit": "100"}
    if cursor:
        params["cursor"] = cursor
    url = xrpc_url(session["pds_url"], "com.atproto.repo.listRecords", params)
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky post lookup", idempotent=True
    )
    return Call(request, read_json_response)


def read_json_response(response: HttpResponse) -> dict[str, Any]:
    parsed = json_or_none(response.body)
    if not response.ok:
        raise _error(response)
    if not isinstance(parsed, dict):
        raise classify_bluesky_response(502, {"message": "unreadable answer"}, None)
    return parsed


def get_session_call(session: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """``com.atproto.server.getSession``: whose the token is (did, handle)."""
    url = xrpc_url(session["pds_url"], "com.atproto.server.getSession")
    request = HttpRequest(
        "GET", url, authorize(session, "GET", url), action="Bluesky verify", idempotent=True
    )
    return Call(request, read_json_response)


def get_profile_call(actor: str, appview: str = PUBLIC_APPVIEW) -> Call[dict[str, Any]]:
    """``app.bsky.actor.getProfile`` on the public AppView: display name, followers."""
    url = xrpc_url(appview, "app.bsky.actor.getProfile", {"actor": actor})
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky profile", idempotent=True), read_json_response
    )


def get_posts_call(uris: list[str], appview: str = PUBLIC_APPVIEW) -> Call[dict[str, Any]]:
    """``app.bsky.feed.getPosts`` for up to 25 URIs: their like/repost/reply/quote counts."""
    if len(uris) > MAX_URIS_PER_CALL:
        raise ValueError(f"getPosts takes at most {MAX_URIS_PER_CALL} URIs, not {len(uris)}")
    query = urlencode([("uris", uri) for uri in uris])
    url = f"{appview}/xrpc/app.bsky.feed.getPosts?{query}"
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky engagement", idempotent=True),
        read_json_response,
    )


def refresh_call(session: Mapping[str, Any]) -> Call[dict[str, Any]]:
    """``com.atproto.server.refreshSession`` for an app-password session: the refresh JWT
    as the bearer; the answer holds a new accessJwt and refreshJwt
    (https://docs.bsky.app/docs/api/com-atproto-server-refresh-session)."""
    url = xrpc_url(session["pds_url"], "com.atproto.server.refreshSession")
    request = HttpRequest(
        "POST",
        url,
        {"Authorization": f"Bearer {session['refresh_token']}"},
        action="Bluesky session refresh",
        idempotent=True,
    )
    return Call(request, partial(read_refresh_response, session=session))


def read_refresh_response(response: HttpResponse, *, session: Mapping[str, Any]) -> dict[str, Any]:
    answer = read_json_response(response)
    access, refresh = answer.get("accessJwt"), answer.get("refreshJwt")
    if not isinstance(access, str) or not isinstance(refresh, str):
        raise classify_bluesky_response(502, {"message": "unreadable session"}, None)
    fresh = dict(session)
    fresh.update(access_token=access, refresh_token=refresh)
    if isinstance(answer.get("handle"), str):
        fresh["handle"] = answer["handle"]
    return fresh


def create_session_call(pds_url: str, identifier: str, password: str) -> Call[dict[str, Any]]:
    """``com.atproto.server.createSession`` with an app password: the campaign's own
    account, connected from the CLI. The password is in the body, never in the URL."""
    url = xrpc_url(pds_url, "com.atproto.server.createSession")
    body = json.dumps({"identifier": identifier, "password": password}).encode()
    request = HttpRequest(
        "POST",
        url,
        {"Content-Type": "application/json"},
        body,
        action="Bluesky sign-in",
        idempotent=True,
    )
    return Call(request, partial(read_create_session, pds_url=pds_url))


def read_create_session(response: HttpResponse, *, pds_url: str) -> dict[str, Any]:
    answer = read_json_response(response)
    needed = ("did", "handle", "accessJwt", "refreshJwt")
    if any(not isinstance(answer.get(name), str) for name in needed):
        raise classify_bluesky_response(502, {"message": "unreadable session"}, None)
    return {
        "did": answer["did"],
        "handle": answer["handle"],
        "pds_url": pds_url,
        "auth": "app_password",
        "access_token": answer["accessJwt"],
        "refresh_token": answer["refreshJwt"],
    }


def resolve_handle_call(handle: str, service: str) -> Call[dict[str, Any]]:
    """``com.atproto.identity.resolveHandle`` on ``service``: the handle's DID."""
    url = xrpc_url(service, "com.atproto.identity.resolveHandle", {"handle": handle})
    return Call(
        HttpRequest("GET", url, {}, action="Bluesky handle lookup", idempotent=True),
        read_json_response,
    )


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


def pds_of(document: Mapping[str, Any]) -> str | None:
    """The PDS a DID document names (service ``#atproto_pds``)."""
    for service in document.get("service") or []:
        if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
            endpoint = service.get("serviceEndpoint")
            if isinstance(endpoint, str):
                return endpoint.rstrip("/")
    return None
