"""The Bluesky stand-in on the sandbox's port: PDS, AppView, handles and plc.directory.

Reached through ``/_host/<host>/...`` (``bot.sandbox.hosts``), so the real client code
runs unchanged: Clarion builds requests for ``https://bsky.social/xrpc/...`` and the
transport reroutes them here. What answers which host:

- ``bsky.social`` (and ``*.bsky.network``): the PDS, ``/xrpc/com.atproto.*``;
- ``public.api.bsky.app``, ``api.bsky.app``: the AppView, ``/xrpc/app.bsky.*``
  (the PDS answers those too, as a real PDS proxies them);
- ``plc.directory``: ``GET /<did>``, the DID document naming the PDS;
- a handle's own host (``alice.bsky.social``, or a custom domain the sandbox has an
  account for): ``GET /.well-known/atproto-did``;
- ``/oauth/...`` and ``/.well-known/oauth-...`` on any of them: the OAuth authorization
  server (``bot.sandbox.bluesky.oauth_server``, its own module).

XRPC requests pass through the sandbox's scripts, faults and latency for ``bluesky``.
Bearer tokens are the app-password sessions of ``state.py``; ``Authorization: DPoP`` tokens
are checked by ``oauth_server.verify_access(state, method, url, headers) -> did``, which
may raise an exception with ``status``, ``body`` and ``headers`` (e.g. a ``DPoP-Nonce``
challenge) that is sent as it is.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from bot.sandbox.bluesky.state import (
    CREATE_POINTS,
    POST_COLLECTION,
    UPDATE_POINTS,
    BlueskySandbox,
    XrpcError,
)
from bot.sandbox.faults import run_with_faults, transport_of

logger = logging.getLogger(__name__)

SUFFIXES = ("bsky.social", "bsky.app", "bsky.network")
PLC_HOST = "plc.directory"

Answer = tuple[int, Any, dict[str, str]]


def sandbox_of(state: Any) -> BlueskySandbox:
    found: BlueskySandbox = state.bluesky
    return found


def serves(state: Any, host: str) -> bool:
    host = host.split(":")[0]
    if host == PLC_HOST or any(host == s or host.endswith("." + s) for s in SUFFIXES):
        return True
    return sandbox_of(state).account_by_handle(host) is not None


async def handle(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    path: str = scope["path"]
    host: str = scope["sandbox_host"].split(":")[0]
    if path.startswith("/oauth/") or path.startswith("/.well-known/oauth-"):
        server = oauth_server()
        if server is None:
            await respond(send, 404, {"error": "NotFound", "message": "no OAuth server here"})
            return
        await server.handle(state, scope, receive, send)
        return
    sandbox = sandbox_of(state)
    if host == PLC_HOST:
        document = sandbox.did_document(path.strip("/"))
        if document is None:
            await respond(send, 404, {"message": f"DID not registered: {path.strip('/')}"})
        else:
            await respond(send, 200, document)
        return
    if path == "/.well-known/atproto-did":
        account = sandbox.account_by_handle(host)
        if account is None:
            await respond(send, 404, b"no such handle", content_type=b"text/plain")
        else:
            await respond(send, 200, account.did.encode(), content_type=b"text/plain")
        return
    if not path.startswith("/xrpc/"):
        await respond(send, 404, {"error": "NotFound", "message": f"nothing at {path}"})
        return

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await xrpc(state, sandbox, scope, receive, send)

    config = state.faults["bluesky"]
    if state.scripts or config.active:
        await run_with_faults(
            state, "bluesky", scope, receive, send, transport_of(send), inner, lambda: []
        )
        return
    await inner(scope, receive, send)


def oauth_server() -> ModuleType | None:
    """The OAuth authorization server's module, when it exists."""
    name = "bot.sandbox.bluesky.oauth_server"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not name.startswith(exc.name):
            raise
        return None


async def respond(
    send: Send,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    content_type: bytes = b"application/json; charset=utf-8",
) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    raw = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    raw.extend((k.encode(), v.encode()) for k, v in (headers or {}).items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


class Call:
    """One XRPC request as the handlers read it."""

    def __init__(self, state: Any, scope: Scope, body: bytes) -> None:
        self.state = state
        self.scope = scope
        self.method: str = scope["method"]
        self.host: str = scope["sandbox_host"]
        self.path: str = scope["path"]
        self.params = parse_qs(scope.get("query_string", b"").decode())
        self.headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        self.raw = body

    def param(self, name: str, default: str | None = None) -> str:
        values = self.params.get(name)
        if not values:
            if default is None:
                raise XrpcError(
                    400, "InvalidRequest", f'Error: Params must have the property "{name}"'
                )
            return default
        return values[0]

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.raw or b"null")
        except ValueError:
            raise XrpcError(400, "InvalidRequest", "body is not JSON") from None
        if not isinstance(data, dict):
            raise XrpcError(400, "InvalidRequest", "body must be an object")
        return data

    def did(self, sandbox: BlueskySandbox) -> str:
        """Who is calling: a bearer session or a DPoP-bound OAuth token."""
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer" and token:
            return sandbox.session_did(token)
        if scheme == "DPoP" and token:
            server = oauth_server()
            if server is None:
                raise XrpcError(401, "InvalidToken", "OAuth is not served here")
            url = f"https://{self.host}{self.path}"
            return str(server.verify_access(self.state, self.method, url, self.headers))
        raise XrpcError(401, "AuthenticationRequired", "Authentication Required")


Handler = Callable[[BlueskySandbox, Call], Awaitable[Answer] | Answer]


def describe_server(sandbox: BlueskySandbox, call: Call) -> Answer:
    return 200, {"did": "did:web:bsky.social", "availableUserDomains": [".bsky.social"]}, {}


def create_session(sandbox: BlueskySandbox, call: Call) -> Answer:
    data = call.json()
    account = sandbox.check_password(str(data.get("identifier", "")), str(data.get("password", "")))
    if account is None:
        raise XrpcError(401, "AuthenticationRequired", "Invalid identifier or password")
    return 200, sandbox.new_session(account.did), {}


def refresh_session(sandbox: BlueskySandbox, call: Call) -> Answer:
    scheme, _, token = call.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not token:
        raise XrpcError(401, "AuthenticationRequired", "Authentication Required")
    return 200, sandbox.refresh_session(token), {}


def get_session(sandbox: BlueskySandbox, call: Call) -> Answer:
    account = sandbox.account_by_did(call.did(sandbox))
    assert account is not None  # noqa: S101 - session_did checked it exists
    return 200, {"did": account.did, "handle": account.handle, "active": account.active}, {}


def resolve_handle(sandbox: BlueskySandbox, call: Call) -> Answer:
    account = sandbox.account_by_handle(call.param("handle"))
    if account is None:
        raise XrpcError(400, "InvalidRequest", "Unable to resolve handle")
    return 200, {"did": account.did}, {}


def _repo(sandbox: BlueskySandbox, call: Call, data: dict[str, Any]) -> str:
    did = call.did(sandbox)
    repo = str(data.get("repo", ""))
    account = sandbox.account_for(repo)
    if account is None or account.did != did:
        raise XrpcError(403, "Forbidden", "Cannot write to another account's repository")
    return did


def create_record(sandbox: BlueskySandbox, call: Call) -> Answer:
    data = call.json()
    did = _repo(sandbox, call, data)
    collection = str(data.get("collection", ""))
    rkey = data.get("rkey") or _fresh_key()
    headers = sandbox.spend(did, CREATE_POINTS)
    record = sandbox.write_record(did, collection, str(rkey), data.get("record"), create=True)
    body = {"uri": record.uri, "cid": record.cid, "validationStatus": "valid"}
    return 200, body, headers


def put_record(sandbox: BlueskySandbox, call: Call) -> Answer:
    data = call.json()
    did = _repo(sandbox, call, data)
    swap: str | None | bool = data.get("swapRecord", False)
    headers = sandbox.spend(did, UPDATE_POINTS)
    record = sandbox.write_record(
        did,
        str(data.get("collection", "")),
        str(data.get("rkey", "")),
        data.get("record"),
        create=False,
        swap=swap,
    )
    return 200, {"uri": record.uri, "cid": record.cid, "validationStatus": "valid"}, headers


def checked_optional_auth(sandbox: BlueskySandbox, call: Call) -> None:
    """Public reads still check credentials sent with them, as the PDS's optional
    authentication does: a stale DPoP nonce is challenged, a bad token refused."""
    if call.headers.get("authorization"):
        call.did(sandbox)


def get_record(sandbox: BlueskySandbox, call: Call) -> Answer:
    checked_optional_auth(sandbox, call)
    account = sandbox.account_for(call.param("repo"))
    repo = account.did if account else call.param("repo")
    uri = f"at://{repo}/{call.param('collection')}/{call.param('rkey')}"
    record = sandbox.find(uri)
    if record is None:
        raise XrpcError(400, "RecordNotFound", f"Could not locate record: {uri}")
    return 200, {"uri": record.uri, "cid": record.cid, "value": record.value}, {}


def list_records(sandbox: BlueskySandbox, call: Call) -> Answer:
    checked_optional_auth(sandbox, call)
    account = sandbox.account_for(call.param("repo"))
    if account is None:
        raise XrpcError(400, "InvalidRequest", f"Could not find repo: {call.param('repo')}")
    limit = max(1, min(int(call.param("limit", "50")), 100))
    page, cursor = sandbox.list_records(
        account.did, call.param("collection"), limit, call.params.get("cursor", [None])[0]
    )
    body: dict[str, Any] = {
        "records": [{"uri": r.uri, "cid": r.cid, "value": r.value} for r in page]
    }
    if cursor:
        body["cursor"] = cursor
    return 200, body, {}


def get_posts(sandbox: BlueskySandbox, call: Call) -> Answer:
    uris = call.params.get("uris", [])
    if len(uris) > 25:
        raise XrpcError(400, "InvalidRequest", "uris must not have more than 25 elements")
    views = [sandbox.post_view(r) for r in (sandbox.find(u) for u in uris) if r is not None]
    return 200, {"posts": views}, {}


def get_author_feed(sandbox: BlueskySandbox, call: Call) -> Answer:
    account = sandbox.account_for(call.param("actor"))
    if account is None:
        raise XrpcError(400, "InvalidRequest", "Profile not found")
    limit = max(1, min(int(call.param("limit", "50")), 100))
    posts = sandbox.posts_of(account.did)[:limit]
    return 200, {"feed": [{"post": sandbox.post_view(r)} for r in posts]}, {}


def get_profile(sandbox: BlueskySandbox, call: Call) -> Answer:
    account = sandbox.account_for(call.param("actor"))
    if account is None:
        raise XrpcError(400, "InvalidRequest", "Profile not found")
    body = {
        "did": account.did,
        "handle": account.handle,
        "displayName": account.display_name,
        "followersCount": account.followers,
        "postsCount": len(sandbox.posts_of(account.did)),
    }
    return 200, body, {}


METHODS: dict[tuple[str, str], Handler] = {
    ("GET", "com.atproto.server.describeServer"): describe_server,
    ("POST", "com.atproto.server.createSession"): create_session,
    ("POST", "com.atproto.server.refreshSession"): refresh_session,
    ("GET", "com.atproto.server.getSession"): get_session,
    ("GET", "com.atproto.identity.resolveHandle"): resolve_handle,
    ("POST", "com.atproto.repo.createRecord"): create_record,
    ("POST", "com.atproto.repo.putRecord"): put_record,
    ("GET", "com.atproto.repo.getRecord"): get_record,
    ("GET", "com.atproto.repo.listRecords"): list_records,
    ("GET", "app.bsky.feed.getPosts"): get_posts,
    ("GET", "app.bsky.feed.getAuthorFeed"): get_author_feed,
    ("GET", "app.bsky.actor.getProfile"): get_profile,
}


async def xrpc(
    state: Any, sandbox: BlueskySandbox, scope: Scope, receive: Receive, send: Send
) -> None:
    name = scope["path"][len("/xrpc/") :]
    call = Call(state, scope, await read_body(receive))
    handler = METHODS.get((call.method, name))
    if handler is None:
        known = any(n == name for _, n in METHODS)
        status, error = (405, "InvalidRequest") if known else (501, "MethodNotImplemented")
        await respond(send, status, {"error": error, "message": f"{call.method} {name}"})
        return
    try:
        result = handler(sandbox, call)
        status, body, headers = await result if isinstance(result, Awaitable) else result
    except XrpcError as exc:
        await respond(send, exc.status, exc.body(), exc.headers)
        return
    except Exception as exc:
        server = oauth_server()
        if server is not None and isinstance(exc, server.AccessRefused):
            # A DPoP-bound token refused (a nonce to use, a bad proof): answered as the
            # PDS does, with the WWW-Authenticate and DPoP-Nonce headers.
            await server.refusal_response(state, exc)(scope, receive, send)
            return
        refused = getattr(exc, "status", None)
        if isinstance(refused, int):  # the OAuth server's refusal, sent as it is
            await respond(send, refused, getattr(exc, "body", {}), getattr(exc, "headers", {}))
            return
        raise
    if call.method == "POST":
        state.mark_dirty()
    await respond(send, status, body, headers)


def _fresh_key() -> str:
    from bot.platforms.record_keys import new_record_key

    return new_record_key()


__all__ = ["POST_COLLECTION", "handle", "serves"]
