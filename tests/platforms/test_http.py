"""Host rerouting, default timeouts and network-failure classification, on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import requests
from oauthlib.oauth1 import Client as OAuth1Client
from requests_oauthlib import OAuth1
from urllib3.exceptions import (
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
)

from bot.platforms.base import OutcomeUnknown, TransientError
from bot.platforms.http import (
    ANY_HOST,
    GRAPH_ORIGIN,
    NETWORK_FAILURES,
    X_API_ORIGIN,
    HandshakeFailed,
    HostRerouteAdapter,
    async_session,
    classify_async_failure,
    classify_transport_error,
    current_url,
    normalise_routes,
    reroute_url,
    session_for,
    x_routes,
)
from tests.support.tls import self_signed


def test_it_keeps_path_and_query_when_rerouting():
    routes = {X_API_ORIGIN: "http://127.0.0.1:8700"}
    assert (
        reroute_url("https://api.x.com/2/tweets?ids=1,2&x=%20", routes)
        == "http://127.0.0.1:8700/2/tweets?ids=1,2&x=%20"
    )


def test_it_puts_the_base_url_path_in_front_of_the_original_path():
    routes = {GRAPH_ORIGIN: "http://host:1/prefix/"}
    assert (
        reroute_url("https://graph.facebook.com/v25.0/123/feed?a=b", routes)
        == "http://host:1/prefix/v25.0/123/feed?a=b"
    )


def test_it_leaves_other_origins_alone_even_when_they_start_alike():
    routes = {X_API_ORIGIN: "http://127.0.0.1:8700"}
    assert reroute_url("https://api.x.com.evil.test/2/x", routes) == (
        "https://api.x.com.evil.test/2/x"
    )
    assert reroute_url("http://api.x.com/2/x", routes) == "http://api.x.com/2/x"
    assert reroute_url("https://upload.twitter.com/1.1/x", routes) == (
        "https://upload.twitter.com/1.1/x"
    )


def test_any_other_host_goes_to_the_catch_all_route_under_its_own_name():
    routes = normalise_routes({X_API_ORIGIN: "http://127.0.0.1:8700", ANY_HOST: "http://sb:1/p"})
    assert reroute_url("https://Social.Example/api/v1/statuses?a=b", routes) == (
        "http://sb:1/p/_host/social.example/api/v1/statuses?a=b"
    )
    assert reroute_url("https://api.x.com/2/tweets", routes) == ("http://127.0.0.1:8700/2/tweets")


def test_without_a_catch_all_route_other_hosts_are_not_rerouted():
    routes = normalise_routes({X_API_ORIGIN: "http://127.0.0.1:8700"})
    assert reroute_url("https://social.example/api/v1/x", routes) == (
        "https://social.example/api/v1/x"
    )


def test_any_host_no_other_stand_in_claims_is_a_mastodon_instance_of_the_sandbox(sandbox):
    session = session_for({ANY_HOST: sandbox.url})
    instance = session.get("https://nobody.invalid/api/v2/instance")
    assert instance.status_code == 200 and instance.json()["domain"] == "nobody.invalid"
    response = session.get("https://nobody.invalid/xrpc/anything")
    assert response.status_code == 404  # Mastodon's own "Record not found"
    assert response.json() == {"error": "Record not found"}


def test_a_request_naming_no_host_is_answered_404_saying_so(sandbox):
    response = requests.get(f"{sandbox.url}/_host/", timeout=5)
    assert response.status_code == 404
    assert "names no host" in response.json()["error"]


def test_it_refuses_a_base_url_that_is_not_http():
    with pytest.raises(ValueError, match="api.x.com"):
        session_for({X_API_ORIGIN: "ftp://example.org"})


def test_a_session_sends_requests_for_a_routed_origin_to_the_base_url(tiny_server):
    session = session_for({X_API_ORIGIN: tiny_server.url + "/x"})
    response = session.get("https://api.x.com/2/users/me?user.fields=public_metrics")
    assert response.status_code == 200
    assert response.json() == {"path": "/x/2/users/me", "query": "user.fields=public_metrics"}
    assert tiny_server.seen[0].headers["Host"] == tiny_server.url.removeprefix("http://")


def signature_for(header: str, url: str) -> str:
    """The Authorization header oauthlib makes for ``url`` with ``header``'s nonce and time."""
    client = OAuth1Client(
        "ck", client_secret="cs", resource_owner_key="tk", resource_owner_secret="ts"
    )
    params = dict(part.strip().split("=", 1) for part in header.removeprefix("OAuth ").split(","))
    client.nonce = params["oauth_nonce"].strip('"')
    client.timestamp = params["oauth_timestamp"].strip('"')
    _, headers, _ = client.sign(url, "POST", headers={"Content-Type": "application/json"})
    return str(headers["Authorization"])


def test_the_oauth_signature_is_computed_over_the_original_url(tiny_server):
    session = session_for({X_API_ORIGIN: tiny_server.url})
    auth = OAuth1("ck", client_secret="cs", resource_owner_key="tk", resource_owner_secret="ts")
    session.post("https://api.x.com/2/tweets?a=1", json={"text": "hi"}, auth=auth)
    header = tiny_server.seen[0].headers["Authorization"]
    assert signature_for(header, "https://api.x.com/2/tweets?a=1") == header
    assert signature_for(header, tiny_server.url + "/2/tweets?a=1") != header


def test_a_url_on_xs_former_host_is_signed_and_sent_for_its_current_host(tiny_server):
    # tweepy builds https://api.twitter.com URLs; Clarion moves them to api.x.com first.
    session = session_for(x_routes(tiny_server.url))
    auth = OAuth1("ck", client_secret="cs", resource_owner_key="tk", resource_owner_secret="ts")
    session.post("https://api.twitter.com/2/tweets?a=1", json={"text": "hi"}, auth=auth)
    header = tiny_server.seen[0].headers["Authorization"]
    assert signature_for(header, "https://api.x.com/2/tweets?a=1") == header
    assert current_url("https://api.twitter.com/2/tweets?a=1") == "https://api.x.com/2/tweets?a=1"
    assert (
        current_url("https://api.twitter.com.evil.test/2") == "https://api.twitter.com.evil.test/2"
    )


def test_it_applies_the_default_timeout_to_requests_that_have_none(tiny_server):
    session = session_for({X_API_ORIGIN: tiny_server.url}, timeout=0.2)
    with pytest.raises(requests.ReadTimeout):
        session.get("https://api.x.com/slow")
    # A caller's own timeout still wins.
    assert session.get("https://api.x.com/slow", timeout=3).status_code == 200


def test_no_proxy_is_decided_for_the_host_actually_connected_to(
    tiny_server, closed_port_url, monkeypatch
):
    # A proxy that would refuse everything, and NO_PROXY naming only the loopback target:
    # requests picks the proxy for api.twitter.com, the adapter must drop it for 127.0.0.1.
    monkeypatch.setenv("HTTPS_PROXY", closed_port_url)
    monkeypatch.setenv("HTTP_PROXY", closed_port_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    session = session_for({X_API_ORIGIN: tiny_server.url})
    assert session.get("https://api.twitter.com/2/users/me").status_code == 200


def test_a_proxy_from_the_environment_is_still_used_for_other_hosts(tiny_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", tiny_server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = session_for(None)
    assert session.trust_env is False  # the environment is read once, not per request
    assert session.get("http://clarion.invalid/through-proxy").status_code == 200
    assert tiny_server.seen[0].path == "/through-proxy"


def test_unrouted_hosts_get_the_default_timeout_too(tiny_server):
    session = session_for(None, timeout=0.2)
    with pytest.raises(requests.ReadTimeout):
        session.get(tiny_server.url + "/slow")


def test_the_pool_holds_at_least_pool_size_connections_per_host():
    session = session_for({X_API_ORIGIN: "http://127.0.0.1:9"}, pool_size=200)
    adapter = session.get_adapter("https://api.twitter.com/2/tweets")
    assert isinstance(adapter, HostRerouteAdapter)
    assert adapter.poolmanager.connection_pool_kw["maxsize"] >= 200


def test_the_shared_session_keeps_no_cookies_between_accounts(tiny_server):
    session = session_for(None)
    session.get(tiny_server.url + "/cookie")
    assert len(session.cookies) == 0


def test_a_refused_connection_is_transient_because_nothing_was_sent(closed_port_url):
    session = session_for(None)
    with pytest.raises(requests.ConnectionError) as caught:
        session.post(closed_port_url + "/2/tweets", json={})
    error = classify_transport_error(caught.value, action="publish")
    assert isinstance(error, TransientError)
    assert error.not_sent and not error.maybe_sent and not error.rate_limited


def test_a_refused_connection_on_the_burst_path_is_not_sent_either(closed_port_url):
    async def post() -> BaseException:
        async with async_session(timeout=5, limit=4) as session:
            try:
                await session.post(closed_port_url + "/2/tweets", json={})
            except NETWORK_FAILURES as exc:
                return exc
        raise AssertionError("the closed port answered")

    error = classify_async_failure(asyncio.run(post()), action="publish")
    assert isinstance(error, TransientError)
    assert error.not_sent and not error.maybe_sent


def test_a_dropped_answer_after_sending_is_an_unknown_outcome(tiny_server):
    session = session_for(None)
    with pytest.raises(requests.ConnectionError) as caught:
        session.post(tiny_server.url + "/close", json={"text": "hi"})
    assert tiny_server.seen[0].body == json.dumps({"text": "hi"}).encode()
    assert isinstance(classify_transport_error(caught.value, action="publish"), OutcomeUnknown)


def test_a_read_timeout_is_an_unknown_outcome_for_a_write_but_transient_for_a_read(tiny_server):
    session = session_for(None, timeout=0.2)
    with pytest.raises(requests.ReadTimeout) as caught:
        session.post(tiny_server.url + "/slow")
    assert isinstance(classify_transport_error(caught.value, action="publish"), OutcomeUnknown)
    read = classify_transport_error(caught.value, action="lookup", idempotent=True)
    assert type(read) is TransientError


def test_the_classified_message_never_repeats_the_url_and_its_token(closed_port_url):
    session = session_for(None)
    with pytest.raises(requests.ConnectionError) as caught:
        session.get(closed_port_url + "/v25.0/me", params={"access_token": "SECRET-TOKEN"})
    assert "SECRET-TOKEN" in str(caught.value)  # requests' own message does carry it...
    error = classify_transport_error(caught.value, action="Facebook GET me")
    assert "SECRET-TOKEN" not in str(error)  # ...ours must not


@contextmanager
def _one_connection_server(serve: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback server that hands its first connection to ``serve``; yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            serve(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
        thread.join(timeout=10)


def test_a_failed_tls_handshake_is_not_sent_so_an_outage_is_waited_out_on_the_threaded_path():
    # A server (or a broken proxy in front of the platform) that answers a ClientHello in
    # plain text: the handshake fails, and http.client never wrote the request.
    def plain_text(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    with (
        _one_connection_server(plain_text) as url,
        pytest.raises(requests.ConnectionError) as caught,
    ):
        session_for(None, timeout=5).post(url + "/2/tweets", json={"text": "hi"})
    error = classify_transport_error(caught.value, action="publish")
    assert type(error) is TransientError
    assert error.not_sent and not error.maybe_sent
    assert "TLS handshake" in str(error)


def test_a_failed_tls_handshake_on_the_burst_path_is_not_sent_either():
    def plain_text(conn: socket.socket) -> None:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

    async def post(url: str) -> BaseException:
        async with async_session(timeout=5, limit=4) as session:
            try:
                await session.post(url + "/2/tweets", json={"text": "hi"})
            except NETWORK_FAILURES as exc:
                return exc
        raise AssertionError("the plain-text server completed a TLS handshake")

    with _one_connection_server(plain_text) as url:
        failure = asyncio.run(post(url))
    error = classify_async_failure(failure, action="publish")
    assert type(error) is TransientError
    assert error.not_sent and not error.maybe_sent


def test_a_certificate_the_machine_does_not_trust_fails_before_anything_is_sent(tmp_path):
    _, tls = self_signed(tmp_path)
    received: list[bytes] = []

    def present_certificate(conn: socket.socket) -> None:
        try:
            with tls.wrap_socket(conn, server_side=True) as wrapped:
                received.append(wrapped.recv(4096))
        except (ssl.SSLError, OSError):
            pass  # the client hangs up on the certificate it cannot verify

    with (
        _one_connection_server(present_certificate) as url,
        pytest.raises(requests.ConnectionError) as caught,
    ):
        session_for(None, timeout=5).post(url + "/2/tweets", json={"text": "hi"})
    error = classify_transport_error(caught.value, action="publish")
    assert type(error) is TransientError and error.not_sent
    assert "could not connect (TLS handshake: SSLCertVerificationError)" in str(error)
    assert received == []


def test_a_tls_error_after_the_request_was_sent_is_still_an_unknown_outcome(tmp_path):
    ca, tls = self_signed(tmp_path)
    received: list[bytes] = []

    def take_the_request_then_break_tls(conn: socket.socket) -> None:
        with tls.wrap_socket(conn, server_side=True) as wrapped:
            data = b""
            while b'"hi"' not in data:
                chunk = wrapped.recv(4096)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            # Bytes outside any TLS record: the client's read fails with a TLS error
            # after the request (and the post) reached the server.
            os.write(wrapped.fileno(), b"\x17\x03\x03\x00\x10" + b"x" * 16)

    session = session_for(None, timeout=5)
    session.verify = str(ca)
    with (
        _one_connection_server(take_the_request_then_break_tls) as url,
        pytest.raises(requests.ConnectionError) as caught,
    ):
        session.post(url + "/2/tweets", json={"text": "hi"})
    assert received and b'"text": "hi"' in received[0]
    error = classify_transport_error(caught.value, action="publish")
    assert isinstance(error, OutcomeUnknown)


def _wrapped(reason):
    return requests.ConnectionError(MaxRetryError(None, "/2/tweets", reason=reason))


@pytest.mark.parametrize(
    ("exc", "expected", "not_sent"),
    [
        pytest.param(
            _wrapped(NewConnectionError(None, "refused")), TransientError, True, id="refused"
        ),
        pytest.param(
            _wrapped(NameResolutionError("h", None, OSError())), TransientError, True, id="dns"
        ),
        pytest.param(
            requests.ConnectTimeout("connect"), TransientError, True, id="connect-timeout"
        ),
        pytest.param(requests.exceptions.ProxyError("proxy"), TransientError, True, id="proxy"),
        pytest.param(
            requests.ConnectionError(ProtocolError("aborted")), OutcomeUnknown, False, id="reset"
        ),
        pytest.param(
            _wrapped(HandshakeFailed(None, "tls")), TransientError, True, id="tls-handshake"
        ),
        pytest.param(
            requests.exceptions.SSLError("tls"), OutcomeUnknown, False, id="tls-after-sending"
        ),
        pytest.param(
            requests.exceptions.ChunkedEncodingError("cut"), OutcomeUnknown, False, id="cut"
        ),
        pytest.param(
            requests.exceptions.InvalidURL("bad"), TransientError, False, id="unrecognised"
        ),
    ],
)
def test_each_network_failure_is_classified_by_whether_the_request_may_have_gone(
    exc, expected, not_sent
):
    error = classify_transport_error(exc, action="publish")
    assert type(error) is expected
    # only what provably never left is waited out as an outage, not counted as a try
    assert getattr(error, "not_sent", False) is not_sent
