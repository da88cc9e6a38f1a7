"""The sandbox's Bluesky authorization server refuses what Bluesky's refuses: requests
without PKCE S256 or a DPoP proof, replayed proofs, redirect URIs and scopes the client
did not declare, clients whose metadata cannot be read, and codes used twice."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import requests

from bot.platforms.bluesky import oauth
from bot.platforms.http import ANY_HOST, session_for
from bot.sandbox.testing import SandboxHandle, free_port

PAR = "https://bsky.social/oauth/par"
REDIRECT = "http://127.0.0.1:9/oauth/bluesky/callback"
LOOPBACK_CLIENT = "http://localhost?" + urlencode({"redirect_uri": REDIRECT, "scope": oauth.SCOPE})


@pytest.fixture
def http(sandbox: SandboxHandle) -> requests.Session:
    return session_for({ANY_HOST: sandbox.url})


def form(**changes: str) -> dict[str, str]:
    base = {
        "client_id": LOOPBACK_CLIENT,
        "response_type": "code",
        "code_challenge": oauth.b64url_sha256("v" * 50),
        "code_challenge_method": "S256",
        "state": "s1",
        "redirect_uri": REDIRECT,
        "scope": oauth.SCOPE,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v != "-"}


def post(
    http: requests.Session,
    fields: dict[str, str],
    key: dict[str, Any],
    *,
    proof: str | None = "",
    url: str = PAR,
) -> requests.Response:
    """POST with a proof carrying the server's nonce (asked for first), unless ``proof``
    is given (None: no DPoP header at all)."""
    if proof == "":
        nonce = http.post(url, data=fields, timeout=10).headers["DPoP-Nonce"]
        proof = oauth.dpop_proof(key, "POST", url, nonce=nonce)
    headers = {} if proof is None else {"DPoP": proof}
    return http.post(url, data=fields, headers=headers, timeout=10)


def error_of(response: requests.Response) -> str:
    found: str = response.json()["error"]
    return found


def test_a_well_formed_request_is_accepted(http: requests.Session) -> None:
    answer = post(http, form(), oauth.new_dpop_key())
    assert answer.status_code == 201, answer.text
    assert answer.json()["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")


def test_a_request_without_a_dpop_proof_is_refused(http: requests.Session) -> None:
    answer = post(http, form(), oauth.new_dpop_key(), proof=None)
    assert answer.status_code == 400 and error_of(answer) == "invalid_dpop_proof"


def test_a_proof_without_the_servers_nonce_is_answered_with_one(http: requests.Session) -> None:
    key = oauth.new_dpop_key()
    answer = post(http, form(), key, proof=oauth.dpop_proof(key, "POST", PAR))
    assert answer.status_code == 400 and error_of(answer) == "use_dpop_nonce"
    assert answer.headers["DPoP-Nonce"]


def test_a_replayed_proof_is_refused(http: requests.Session) -> None:
    key = oauth.new_dpop_key()
    nonce = http.post(PAR, data=form(), timeout=10).headers["DPoP-Nonce"]
    proof = oauth.dpop_proof(key, "POST", PAR, nonce=nonce)
    assert post(http, form(), key, proof=proof).status_code == 201
    again = post(http, form(), key, proof=proof)
    assert again.status_code == 400 and "jti" in again.json()["error_description"]


def test_a_proof_for_another_endpoint_is_refused(http: requests.Session) -> None:
    key = oauth.new_dpop_key()
    nonce = http.post(PAR, data=form(), timeout=10).headers["DPoP-Nonce"]
    proof = oauth.dpop_proof(key, "POST", "https://bsky.social/oauth/token", nonce=nonce)
    answer = post(http, form(), key, proof=proof)
    assert answer.status_code == 400 and "htu" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "-", "code_challenge_method": "-"}, "invalid_request"),
        ({"redirect_uri": "https://attacker.example/cb"}, "invalid_request"),
        ({"scope": "transition:generic"}, "invalid_scope"),
        ({"scope": "atproto transition:chat.bsky"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"state": "-"}, "invalid_request"),
        (
            {"client_assertion": "x.y.z", "client_assertion_type": oauth.ASSERTION_TYPE},
            "invalid_client",
        ),
    ],
)
def test_a_request_the_client_did_not_declare_or_without_pkce_is_refused(
    http: requests.Session, changes: dict[str, str], error: str
) -> None:
    answer = post(http, form(**changes), oauth.new_dpop_key())
    assert answer.status_code == 400 and error_of(answer) == error, answer.text


def test_a_client_whose_metadata_cannot_be_fetched_is_refused(http: requests.Session) -> None:
    client_id = f"http://127.0.0.1:{free_port()}/oauth/bluesky/client-metadata.json"
    answer = post(http, form(client_id=client_id), oauth.new_dpop_key())
    assert answer.status_code == 400 and error_of(answer) == "invalid_client"


def test_a_client_id_that_is_plain_http_elsewhere_is_refused(http: requests.Session) -> None:
    client_id = "http://campaign.example/oauth/bluesky/client-metadata.json"
    answer = post(http, form(client_id=client_id), oauth.new_dpop_key())
    assert answer.status_code == 400 and "https" in answer.json()["error_description"]


REVOKE = "https://bsky.social/oauth/revoke"
TOKEN = "https://bsky.social/oauth/token"


def consented(
    sandbox: SandboxHandle, http: requests.Session, handle: str
) -> tuple[Any, Any, dict[str, str]]:
    """A new account that pushed a request and consented: (the account, its DPoP key, the
    form that exchanges the code for tokens)."""
    assert sandbox.state is not None
    who = sandbox.state.bluesky.create_account(handle, "pw")
    key = oauth.new_dpop_key()
    pushed = post(http, form(), key).json()["request_uri"]
    back = requests.post(
        f"{sandbox.url}/_host/bsky.social/oauth/authorize",
        data={
            "request_uri": pushed,
            "client_id": LOOPBACK_CLIENT,
            "handle": who.handle,
            "password": "pw",
            "allow": "1",
        },
        allow_redirects=False,
        timeout=10,
    )
    code = dict(p.split("=", 1) for p in back.headers["location"].split("?")[1].split("&"))["code"]
    exchange = {
        "client_id": LOOPBACK_CLIENT,
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": "v" * 50,
        "redirect_uri": REDIRECT,
    }
    return who, key, exchange


def test_a_code_is_exchanged_once(sandbox: SandboxHandle, http: requests.Session) -> None:
    who, key, token_form = consented(sandbox, http, "once")

    first = post(http, token_form, key, url=TOKEN)
    second = post(http, token_form, key, url=TOKEN)

    assert first.status_code == 200 and first.json()["sub"] == who.did
    assert first.json()["token_type"] == "DPoP"
    assert second.status_code == 400 and error_of(second) == "invalid_grant"


def test_issued_tokens_survive_a_snapshot_and_restore() -> None:
    from bot.sandbox.bluesky.oauth_server import BlueskyOAuthState, Issued

    kept = BlueskyOAuthState()
    kept.refresh["sbx-rt-1"] = Issued("did:plc:abc", "jkt1", "client", "atproto", 0.0)
    kept.access["sbx-at-1"] = Issued("did:plc:abc", "jkt1", "client", "atproto", 99.0)

    restored = BlueskyOAuthState()
    restored.restore(json.loads(json.dumps(kept.snapshot())))

    assert restored.refresh == kept.refresh and restored.access == kept.access


def signed_in(sandbox: SandboxHandle, http: requests.Session, handle: str) -> tuple[Any, Any]:
    """A session of the loopback client for a new account: (its DPoP key, the tokens)."""
    _, key, exchange = consented(sandbox, http, handle)
    tokens = post(http, exchange, key, url=TOKEN)
    assert tokens.status_code == 200, tokens.text
    return key, tokens.json()


def refresh_with(http: requests.Session, key: Any, tokens: Any) -> requests.Response:
    fields = {
        "client_id": LOOPBACK_CLIENT,
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
    }
    return post(http, fields, key, url=TOKEN)


def test_the_server_names_its_revocation_endpoint(http: requests.Session) -> None:
    meta = http.get("https://bsky.social/.well-known/oauth-authorization-server", timeout=10)
    assert meta.json()["revocation_endpoint"] == REVOKE


def test_revoking_the_access_token_ends_the_whole_session(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    key, tokens = signed_in(sandbox, http, "revoked-all")
    fields = {"client_id": LOOPBACK_CLIENT, "token": tokens["access_token"]}

    first = post(http, fields, key, url=REVOKE)
    again = post(http, fields, key, url=REVOKE)

    assert first.status_code == 200 and again.status_code == 200  # RFC 7009: unknown is fine
    refused = refresh_with(http, key, tokens)
    assert refused.status_code == 400 and error_of(refused) == "invalid_grant"


def test_a_revocation_needs_a_dpop_proof_and_the_client_the_token_was_issued_to(
    sandbox: SandboxHandle, http: requests.Session
) -> None:
    key, tokens = signed_in(sandbox, http, "revoke-strict")
    fields = {"client_id": LOOPBACK_CLIENT, "token": tokens["refresh_token"]}
    other_client = "http://localhost?" + urlencode(
        {"redirect_uri": "http://127.0.0.1:10/cb", "scope": oauth.SCOPE}
    )

    unproven = post(http, fields, key, url=REVOKE, proof=None)
    stranger = post(http, {**fields, "client_id": other_client}, key, url=REVOKE)

    assert unproven.status_code == 400 and error_of(unproven) == "invalid_dpop_proof"
    assert stranger.status_code == 400 and error_of(stranger) == "unauthorized_client"
    still = refresh_with(http, key, tokens)
    assert still.status_code == 200, still.text  # neither ended the session


def test_an_access_lifetime_set_for_some_accounts_shortens_only_their_tokens_and_refreshes(
    sandbox: SandboxHandle,
) -> None:
    from tests.support.oauth_pledges import sign_in_bluesky

    assert sandbox.state is not None
    short = sandbox.state.bluesky.create_account("brief", "pw")
    other = sandbox.state.bluesky.create_account("lasting", "pw")
    client = oauth.OAuthClient(
        oauth.client_config("http://127.0.0.1:9", None),
        session_for({ANY_HOST: sandbox.url}),
        nonces=oauth.NonceBook(),
    )
    sandbox.admin.bluesky_oauth(5, dids=[short.did])

    started = time.time()
    brief = sign_in_bluesky(client, sandbox.url, short.handle, "pw")
    lasting = sign_in_bluesky(client, sandbox.url, other.handle, "pw")
    renewed = client.refreshed(brief)

    assert brief["expires_at"] - started == pytest.approx(5, abs=2)
    assert lasting["expires_at"] - started == pytest.approx(900, abs=2)
    assert renewed["expires_at"] - started == pytest.approx(5, abs=2)  # its successor too
    held = sandbox.admin.bluesky_oauth()
    assert held["access_lifetime_s"] == 900 and held["access_lifetime_s_by_did"] == {short.did: 5}
    # The refresh spent the sign-in's refresh token: only its successor is unspent.
    assert held["refresh_tokens"] == {
        short.did: [renewed["refresh_token"]],
        other.did: [lasting["refresh_token"]],
    }
