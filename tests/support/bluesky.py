"""Bluesky sign-in helpers: a loopback server for Clarion's client metadata document,
and the sandbox's sign-in page answered as a supporter would."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from bot.platforms.bluesky import oauth
from bot.platforms.http import reroute_url
from bot.sandbox.bluesky.state import PDS_URL
from tests.support.web import csrf_of

PDS_SESSION = f"{PDS_URL}/xrpc/com.atproto.server.getSession"


@contextlib.contextmanager
def documents_server(
    make: Callable[[str], dict[str, dict[str, Any]]],
) -> Iterator[str]:
    """A loopback server answering GETs with JSON documents: ``make(base_url)`` gives
    ``{path: document}``. Yields the base URL."""
    documents: dict[str, dict[str, Any]] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            found = documents.get(urlsplit(self.path).path)
            body = json.dumps(found).encode() if found is not None else b"{}"
            self.send_response(200 if found is not None else 404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    documents.update(make(base))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def consent_bluesky(
    authorize_url: str,
    handle: str,
    password: str,
    *,
    routes: dict[str, str] | None = None,
    cancel: bool = False,
) -> str:
    """Open the (sandbox) Bluesky sign-in page and answer it; return where it sends the
    browser back. ``routes`` reroutes the real URL to the sandbox, as a rehearsal's
    browser is sent there."""
    url = reroute_url(authorize_url, routes or {})
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    form = {"request_uri": query["request_uri"], "client_id": query["client_id"]}
    form.update({"handle": handle, "password": password})
    form.update({"cancel": "1"} if cancel else {"allow": "1"})
    back = requests.post(url.split("?")[0], data=form, allow_redirects=False, timeout=10)
    assert back.status_code == 303, back.text
    return back.headers["location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def call_pds(
    session: requests.Session,
    creds: dict[str, Any],
    nonces: oauth.NonceBook,
    url: str = PDS_SESSION,
) -> requests.Response:
    """One DPoP-authenticated GET, sent once more if the PDS asks for a nonce."""
    response = None
    for _ in range(2):
        headers = oauth.authorize_request(creds, "GET", url, nonces=nonces)
        response = session.get(url, headers=headers, timeout=10)
        nonces.note(url, response.headers)
        if not oauth.is_nonce_challenge(response.status_code, response.headers, response.content):
            break
    assert response is not None
    return response


def on_this_app(client: Any, url: str) -> str:
    """``url`` (where the server sends the browser back) as a path for the test client,
    after checking it points at the client's own app."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == str(client.base_url).rstrip("/"), url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def pledge_with_bluesky(
    client: Any, sandbox: Any, handle: str, *, followers: int = 100, slug: str = "fujitsu"
) -> tuple[Any, str]:
    """A new sandbox Bluesky account with ``followers`` signs in through the campaign page
    (a loopback WEB_BASE_URL) and pledges; returns the account and the private path
    /w/{secret}."""
    who = sandbox.state.bluesky.create_account(handle, "pass phrase", followers=followers)
    step = client.get(f"/c/{slug}/pledge/bluesky")
    assert step.status_code == 200, step.text
    started = client.post(
        f"/c/{slug}/pledge/bluesky",
        data={"csrf": csrf_of(step.text), "handle": who.handle},
    )
    assert started.status_code == 303, started.text
    back = consent_bluesky(started.headers["location"], who.handle, "pass phrase")
    done = client.get(on_this_app(client, back))
    assert done.status_code == 303, done.text
    return who, done.headers["location"].split("?")[0]
