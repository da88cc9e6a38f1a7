"""The burst path's HTTP session (aiohttp) behaves like the SDK path's (requests) on the
machines operators run: proxies and ~/.netrc in the environment, a CA bundle file or
directory from a TLS-inspecting proxy. Talks only to servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.platforms.base import Credentials, Published
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import async_session
from bot.platforms.x import XPlatform
from tests.support.tls import self_signed


class _Recorder(BaseHTTPRequestHandler):
    """Accepts any create: an X-shaped and a Graph-shaped id in one answer."""

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append(dict(self.headers.items()))
        body = json.dumps({"data": {"id": "5", "text": "hi"}, "id": "9_1"}).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _serve(tls: ssl.SSLContext | None = None) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.seen = []  # type: ignore[attr-defined]
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if tls else "http"
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def recorder() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server, url = _serve()
    yield server, url
    server.shutdown()
    server.server_close()


def burst(platform, creds: Credentials) -> Published:
    """One post through the platform's asyncio publisher, as the dispatcher sends it."""

    async def run() -> Published:
        async with async_session(timeout=5, limit=10) as session:
            return await platform.async_publisher(session).publish(creds, "hi", link=None)

    return asyncio.run(run())


@pytest.fixture
def netrc_on_a_proxied_host(tmp_path: Path, monkeypatch, unused_port_url: str) -> None:
    """A machine with a proxy in its environment (not used for loopback) and a ~/.netrc
    with a default entry, as many developer and CI machines have."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("default login backup password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("HTTPS_PROXY", unused_port_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def unused_port_url() -> str:
    server, url = _serve()
    server.server_close()
    return url


# async_session trusts the environment whenever a proxy is set, and aiohttp's trust_env
# also reads ~/.netrc (requests does too, which is why routing.session_for turns it off).
# With a matching entry aiohttp refuses the X request, which carries its own
# Authorization header, with ValueError before sending it: every burst post would become
# "unknown" and wait for a reconciliation.
def test_a_netrc_on_a_proxied_host_does_not_break_x_burst_posts(recorder, netrc_on_a_proxied_host):
    server, url = recorder
    published = burst(XPlatform("ck", "cs", api_base_url=url), Credentials("t", "s", "42"))
    assert published.platform_id == "5"
    assert server.seen[0]["Authorization"].startswith("OAuth ")


# On Facebook the Page token travels in the body, so aiohttp would add the netrc password
# as Basic auth: a secret of the machine's sent to Facebook.
def test_a_netrc_password_is_never_sent_to_facebook(recorder, netrc_on_a_proxied_host):
    server, url = recorder
    fb = FacebookPlatform(graph_base_url=url, www_base_url=url)
    assert burst(fb, Credentials("page-token", "", "9")).platform_id == "9_1"
    assert "Authorization" not in server.seen[0], server.seen[0]["Authorization"]


# routing.session_for trusts REQUESTS_CA_BUNDLE (a TLS-inspecting proxy's CA). If the
# burst path did not, every plain single post behind such a proxy would fail to connect,
# be retried on the same path and end "failed", while threads and checks (the SDK path)
# go out.
def test_the_burst_path_trusts_the_ca_bundle_the_sdk_path_trusts(tmp_path, monkeypatch):
    ca, tls = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    server, url = _serve(tls)
    try:
        x = XPlatform("ck", "cs", api_base_url=url)
        creds = Credentials("t", "s", "42")
        assert x.publish(creds, "hi").platform_id == "5"  # the SDK path connects
        assert burst(x, creds).platform_id == "5"
    finally:
        server.shutdown()
        server.server_close()


# requests takes REQUESTS_CA_BUNDLE as a file *or* a directory of hashed certificates
# (HTTPAdapter.cert_verify: ca_cert_dir). ssl.create_default_context(cafile=...) raises
# for a directory, which would stop the dispatcher's loop at start and the daemon with it.
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to hash the CA")
def test_the_burst_path_takes_a_ca_directory_as_the_sdk_path_does(tmp_path, monkeypatch):
    ca, tls = self_signed(tmp_path)
    hashed = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / f"{hashed}.0").write_bytes(ca.read_bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs))
    server, url = _serve(tls)
    try:
        x = XPlatform("ck", "cs", api_base_url=url)
        creds = Credentials("t", "s", "42")
        assert x.publish(creds, "hi").platform_id == "5"  # the SDK path connects
        assert burst(x, creds).platform_id == "5"
    finally:
        server.shutdown()
        server.server_close()
