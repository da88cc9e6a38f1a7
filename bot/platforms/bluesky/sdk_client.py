"""The campaign's own account, signed in through the atproto SDK's ``Client``.

Signing in with an app password (``accounts connect bluesky``) and resolving a handle on
the AppView are synchronous, happen once per connection and are not on a release's path,
so they go through the SDK's own XRPC client (``Client.login`` ->
``com.atproto.server.createSession``; ``com.atproto.identity.resolveHandle``) rather than
our rules. The client's httpx connection carries Clarion's routes (``RoutedTransport``):
requests are built for the real host and moved to the sandbox (``/_host/<host>/...``)
when SANDBOX_URL is set, so the tests run the SDK's real XRPC code.

Posts, reads and refreshes stay on our own rules and transports (``rules``): the SDK's
client has no asyncio burst path on our pooled sessions, no DPoP for OAuth sessions, and
retries nothing we could classify once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from bot.platforms.base import PlatformError, TransientError
from bot.platforms.bluesky.credentials import BlueskyAuth
from bot.platforms.bluesky.errors import classify_bluesky_response
from bot.platforms.bluesky.lexicon import atproto
from bot.platforms.http.routed_httpx import RoutedTransport

logger = logging.getLogger(__name__)


def xrpc_client(base_url: str, *, routes: Mapping[str, str] | None, timeout: float) -> Any:
    """The SDK's ``Client`` for ``base_url`` (a PDS or the AppView), on our routes."""
    atproto()  # the SDK's models, imported once (lexicon.Loader says why)
    from atproto_client import Client
    from atproto_client.request import Request

    request = Request(transport=RoutedTransport(routes), timeout=timeout, trust_env=False)
    return Client(base_url=base_url, request=request)


def classify_sdk_error(exc: Exception, *, action: str) -> PlatformError:
    """An exception of the SDK's client, classified as any Bluesky answer is
    (``BLUESKY_ERROR_TABLE``); no answer at all (refused, timed out) is transient."""
    from atproto_client.exceptions import ModelError, RequestErrorBase

    if isinstance(exc, ModelError):
        return classify_bluesky_response(502, {"message": f"{action}: unreadable answer"})
    response = exc.response if isinstance(exc, RequestErrorBase) else None
    if response is None:
        kind = type(exc.__cause__ or exc).__name__
        return TransientError(f"{action}: could not reach Bluesky ({kind})", code=kind)
    content = response.content
    body: dict[str, Any] = {}
    if hasattr(content, "error"):  # the SDK's XrpcError model
        body = {"error": content.error, "message": getattr(content, "message", None) or ""}
    return classify_bluesky_response(response.status_code, body, response.headers)


def sign_in(
    pds_url: str,
    handle: str,
    app_password: str,
    *,
    routes: Mapping[str, str] | None,
    timeout: float,
) -> dict[str, Any]:
    """A session made with an app password on the account's PDS, as the vault keeps it
    (``credentials.pack``). The password is sent once, in createSession's body."""
    from atproto_core.exceptions import AtProtocolError

    client = xrpc_client(pds_url, routes=routes, timeout=timeout)
    made: list[Any] = []
    client.on_session_change(lambda _event, session: made.append(session))
    try:
        # The profile is read from the AppView by ``verify``, not by the PDS here.
        client.login(handle, app_password, fetch_bsky_profile=False)
    except AtProtocolError as exc:
        raise classify_sdk_error(exc, action="Bluesky sign-in") from None
    finally:
        client.request.close()
    session = made[-1]
    logger.info("signed in to Bluesky as %s", session.did)
    return {
        "did": session.did,
        "handle": session.handle,
        "pds_url": pds_url,
        "auth": BlueskyAuth.APP_PASSWORD.value,
        "access_token": session.access_jwt,
        "refresh_token": session.refresh_jwt,
    }


def resolve_handle(
    handle: str, service: str, *, routes: Mapping[str, str] | None, timeout: float
) -> str | None:
    """The DID ``service`` (the AppView) resolves ``handle`` to, or None when it does not
    know the handle (400 ``InvalidRequest``/``HandleNotFound``)."""
    from atproto_client.exceptions import BadRequestError
    from atproto_core.exceptions import AtProtocolError

    client = xrpc_client(service, routes=routes, timeout=timeout)
    try:
        answer = client.com.atproto.identity.resolve_handle({"handle": handle})
    except BadRequestError:
        return None
    except AtProtocolError as exc:
        raise classify_sdk_error(exc, action="Bluesky handle lookup") from None
    finally:
        client.request.close()
    return str(answer.did)
