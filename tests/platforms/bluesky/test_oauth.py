"""AT Protocol OAuth against the sandbox's authorization server and PDS, over real HTTP,
with the real client (bot.platforms.bluesky.oauth): identity resolution, PAR with PKCE
and DPoP nonces, the sign-in page, the token exchange, refresh, and DPoP-bound calls."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from joserfc.jwk import ECKey

from bot.platforms.base import AuthError
from bot.platforms.bluesky import BlueskyPlatform, oauth, rules
from bot.platforms.http import ANY_HOST, session_for
from bot.sandbox.bluesky.state import PDS_URL
from tests.support.bluesky import PDS_SESSION, consent_bluesky, documents_server, query_of
from tests.support.bluesky import call_pds as support_call_pds

_numbers = itertools.count(1)


@pytest.fixture
def routes(sandbox: Any) -> dict[str, str]:
    return {ANY_HOST: sandbox.url}


@pytest.fixture
def key() -> dict[str, Any]:
    found = oauth.parse_client_key(_new_key_json())
    assert found is not None
    return found


def _new_key_json() -> str:
    return json.dumps(ECKey.generate_key("P-256", private=True).as_dict(private=True))


@pytest.fixture
def client_config(key: dict[str, Any]) -> Iterator[oauth.ClientConfig]:
    """A confidential client whose metadata document and JWKS a loopback server serves,
    as WEB_BASE_URL's campaign pages would."""
    made: list[oauth.ClientConfig] = []

    def documents(base: str) -> dict[str, dict[str, Any]]:
        config = oauth.ClientConfig(
            f"{base}{oauth.CLIENT_METADATA_PATH}", f"{base}{oauth.CALLBACK_PATH}", key
        )
        made.append(config)
        return {
            oauth.CLIENT_METADATA_PATH: oauth.client_metadata(config, base),
            oauth.JWKS_PATH: oauth.public_jwks(config),
        }

    with documents_server(documents):
        yield made[0]


@pytest.fixture
def client(client_config: oauth.ClientConfig, routes: dict[str, str]) -> oauth.OAuthClient:
    return oauth.OAuthClient(client_config, session_for(routes), nonces=oauth.NonceBook())


def account(sandbox: Any, password: str = "correct horse") -> Any:
    return sandbox.state.bluesky.create_account(f"supporter{next(_numbers)}", password)


def call_pds(
    client: oauth.OAuthClient, creds: dict[str, Any], url: str = PDS_SESSION
) -> requests.Response:
    return support_call_pds(client.session, creds, client.nonces, url)


def sign_in(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> tuple[Any, dict[str, Any]]:
    who = account(sandbox)
    pending = client.start(who.handle)
    back = consent_bluesky(pending.authorize_url, who.handle, "correct horse", routes=routes)
    return who, client.finish(query_of(back), pending)


def test_a_supporter_signs_in_and_their_token_works_on_their_pds(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    oauth_state = sandbox.state.bluesky_oauth
    asked_before = oauth_state.nonce_challenges
    who = account(sandbox)

    pending = client.start("@" + who.handle.upper())  # as typed on a phone

    # The first PAR had no nonce to give: the server asked for one and the client
    # sent the request again with it.
    assert oauth_state.nonce_challenges == asked_before + 1
    assert pending.did == who.did and pending.issuer == "https://bsky.social"
    assert pending.authorize_url.startswith("https://bsky.social/oauth/authorize?")
    back = consent_bluesky(pending.authorize_url, who.handle, "correct horse", routes=routes)
    params = query_of(back)
    assert back.startswith(client.config.redirect_uri + "?")
    assert params["state"] == pending.state and params["iss"] == "https://bsky.social"

    creds = client.finish(params, pending)

    assert creds["did"] == who.did and creds["handle"] == who.handle
    assert creds["pds_url"] == PDS_URL
    assert creds["auth"] == "oauth" and creds["auth_server"] == "https://bsky.social"
    assert creds["client_id"] == client.config.client_id
    assert "d" in creds["dpop_private_jwk"]  # the session's own private key, kept
    assert set(oauth.CRED_FIELDS) == set(creds)
    # The PDS has not seen a nonce from us yet: it asks, the call is sent again.
    answer = call_pds(client, creds)
    assert answer.status_code == 200, answer.text
    assert answer.json()["did"] == who.did
    assert oauth_state.nonce_challenges == asked_before + 2


def test_the_credentials_survive_the_vault_round_trip_without_showing_a_token(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    stored = oauth.credentials_of(creds)
    assert stored.platform_user_id == creds["did"]
    assert creds["access_token"] not in str(stored) and creds["access_token"] not in repr(stored)
    assert oauth.creds_of(stored) == creds


def test_a_wrong_pkce_verifier_is_refused(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who = account(sandbox)
    pending = client.start(who.handle)
    back = consent_bluesky(pending.authorize_url, who.handle, "correct horse", routes=routes)
    forged = dataclasses.replace(pending, verifier="x" * 64)

    with pytest.raises(AuthError) as refused:
        client.finish(query_of(back), forged)

    assert refused.value.code == "invalid_grant"
    # The code was spent by the wrong attempt: the right verifier cannot use it now.
    with pytest.raises(AuthError):
        client.finish(query_of(back), pending)


def test_a_token_request_signed_with_another_dpop_key_is_refused(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who = account(sandbox)
    pending = client.start(who.handle)
    back = consent_bluesky(pending.authorize_url, who.handle, "correct horse", routes=routes)
    forged = dataclasses.replace(pending, dpop_private_jwk=oauth.new_dpop_key())

    with pytest.raises(AuthError) as refused:
        client.finish(query_of(back), forged)

    assert refused.value.code == "invalid_dpop_proof"


def test_an_answer_naming_another_server_is_refused_before_the_code_is_used(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who = account(sandbox)
    pending = client.start(who.handle)
    back = consent_bluesky(pending.authorize_url, who.handle, "correct horse", routes=routes)
    params = query_of(back)

    with pytest.raises(AuthError, match="another server"):
        client.finish({**params, "iss": "https://attacker.example"}, pending)
    with pytest.raises(AuthError, match="another server"):
        client.finish({k: v for k, v in params.items() if k != "iss"}, pending)

    assert client.finish(params, pending)["did"] == who.did  # the code was not spent


def test_a_dpop_proof_made_for_another_url_is_refused(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    assert call_pds(client, creds).status_code == 200  # the PDS's nonce is known now
    other = f"{PDS_URL}/xrpc/com.atproto.repo.createRecord"

    headers = oauth.authorize_request(creds, "GET", other, nonces=client.nonces)
    answer = client.session.get(PDS_SESSION, headers=headers, timeout=10)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_dpop_proof"
    assert "htu" in answer.json()["message"]


def test_a_bearer_token_without_a_proof_is_refused(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    headers = {"Authorization": f"Bearer {creds['access_token']}"}
    answer = client.session.get(PDS_SESSION, headers=headers, timeout=10)
    # Not an app-password session the PDS knows: refused as such, never served.
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidToken"


def test_a_stale_nonce_is_asked_for_again_and_the_call_goes_through(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    assert call_pds(client, creds).status_code == 200
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.rotate_nonce()
    oauth_state.rotate_nonce()  # the nonce we hold is two rotations old: stale
    asked_before = oauth_state.nonce_challenges

    assert call_pds(client, creds).status_code == 200

    assert oauth_state.nonce_challenges == asked_before + 1


def test_an_oauth_session_posts_through_the_adapter_on_the_first_call_despite_a_stale_nonce(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who, creds = sign_in(client, sandbox, routes)
    platform = BlueskyPlatform(routes={ANY_HOST: sandbox.url}, timeout=10.0)
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.rotate_nonce()
    oauth_state.rotate_nonce()  # whatever nonce Clarion holds is stale now
    asked_before = oauth_state.nonce_challenges
    pledged = oauth.credentials_of(creds)

    # use_dpop_nonce is the DPoP handshake, not a failure: resent within the call.
    published = platform.publish(pledged, "Stand with the Fujitsu rep #DefendTheUnion")

    posts = sandbox.admin.bluesky_posts(who.did)
    assert [p["record"]["text"] for p in posts] == ["Stand with the Fujitsu rep #DefendTheUnion"]
    assert published.platform_id == posts[0]["uri"]
    assert oauth_state.nonce_challenges == asked_before + 1
    # The nonce the challenge carried was kept: the next call is not challenged.
    platform.verify(pledged)
    assert oauth_state.nonce_challenges == asked_before + 1


def test_reads_of_an_oauth_session_resend_once_on_a_nonce_challenge(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who, creds = sign_in(client, sandbox, routes)
    platform = BlueskyPlatform(routes={ANY_HOST: sandbox.url}, timeout=10.0)
    pledged = oauth.credentials_of(creds)
    published = platform.publish(pledged, "One union, one voice")
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.rotate_nonce()
    oauth_state.rotate_nonce()
    asked_before = oauth_state.nonce_challenges

    assert platform.verify(pledged).platform_user_id == who.did
    oauth_state.rotate_nonce()
    oauth_state.rotate_nonce()
    _, _, rkey = rules.split_uri(published.platform_id)
    since = datetime.now(UTC) - timedelta(minutes=5)
    found = platform.find_recent(pledged, "One union, one voice", since, record_key=rkey)

    assert found is not None and found.platform_id == published.platform_id
    assert oauth_state.nonce_challenges == asked_before + 2


def test_a_refresh_gives_working_tokens_and_spends_the_old_refresh_token(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who, creds = sign_in(client, sandbox, routes)

    renewed = client.refreshed(creds)

    assert renewed["did"] == who.did
    assert renewed["access_token"] != creds["access_token"]
    assert renewed["refresh_token"] != creds["refresh_token"]
    assert renewed["dpop_private_jwk"] == creds["dpop_private_jwk"]
    assert call_pds(client, renewed).status_code == 200
    with pytest.raises(AuthError) as refused:
        client.refreshed(creds)  # Bluesky's refresh tokens are single-use
    assert refused.value.code == "invalid_grant"


def test_tokens_are_refreshed_only_when_they_are_about_to_expire(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    expires_at = creds["expires_at"]

    assert client.fresh(creds, now=expires_at - 10 * oauth.REFRESH_MARGIN_SECONDS) is None
    renewed = client.fresh(creds, now=expires_at - oauth.REFRESH_MARGIN_SECONDS + 1)

    assert renewed is not None and renewed["access_token"] != creds["access_token"]


def test_an_expired_access_token_is_refused_by_the_pds(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    oauth_state = sandbox.state.bluesky_oauth
    oauth_state.access_seconds = -1.0
    try:
        _, creds = sign_in(client, sandbox, routes)
    finally:
        oauth_state.access_seconds = 900.0
    answer = call_pds(client, creds)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert oauth.needs_refresh(creds)


def test_a_cancelled_sign_in_is_an_auth_error_naming_access_denied(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    who = account(sandbox)
    pending = client.start(who.handle)
    back = consent_bluesky(pending.authorize_url, who.handle, "", routes=routes, cancel=True)
    params = query_of(back)
    assert params["error"] == "access_denied" and "code" not in params
    with pytest.raises(AuthError, match="access_denied"):
        client.finish(params, pending)


def test_a_wrong_password_keeps_the_supporter_on_the_sign_in_page(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    from bot.platforms.http import reroute_url

    who = account(sandbox)
    pending = client.start(who.handle)
    url = reroute_url(pending.authorize_url, routes)
    query = query_of(url)
    answer = requests.post(
        url.split("?")[0],
        data={**query, "handle": who.handle, "password": "wrong", "allow": "1"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 401 and "Wrong handle or password" in answer.text


def test_a_client_assertion_signed_with_a_key_not_in_the_jwks_is_refused(
    client_config: oauth.ClientConfig, sandbox: Any, routes: dict[str, str]
) -> None:
    other_key = oauth.parse_client_key(_new_key_json())
    impostor = oauth.OAuthClient(
        dataclasses.replace(client_config, key=other_key), session_for(routes)
    )
    who = account(sandbox)
    with pytest.raises(AuthError) as refused:
        impostor.start(who.handle)
    assert refused.value.code == "invalid_client"


def test_a_public_loopback_client_signs_in_without_a_metadata_document(
    sandbox: Any, routes: dict[str, str]
) -> None:
    config = oauth.client_config("http://localhost:8080", None)
    assert config.client_id.startswith("http://localhost?")
    assert config.redirect_uri == "http://127.0.0.1:8080/oauth/bluesky/callback"
    client = oauth.OAuthClient(config, session_for(routes), nonces=oauth.NonceBook())

    who, creds = sign_in(client, sandbox, routes)

    assert creds["did"] == who.did
    assert call_pds(client, creds).status_code == 200


def test_an_unknown_handle_is_named_and_a_malformed_one_explained(
    client: oauth.OAuthClient,
) -> None:
    with pytest.raises(oauth.HandleNotFound, match="nobody-here.bsky.social"):
        client.start("nobody-here.bsky.social")
    with pytest.raises(oauth.HandleNotFound, match="not a Bluesky handle"):
        client.start("not a handle")


def test_the_client_metadata_document_is_the_one_bluesky_asks_for(
    client_config: oauth.ClientConfig,
) -> None:
    doc = oauth.client_metadata(client_config, "https://campaign.example")
    assert doc["client_id"] == client_config.client_id
    assert doc["dpop_bound_access_tokens"] is True
    assert doc["token_endpoint_auth_method"] == "private_key_jwt"
    assert doc["jwks_uri"] == "https://campaign.example/oauth/bluesky/jwks.json"
    assert "atproto" in doc["scope"].split()
    assert doc["grant_types"] == ["authorization_code", "refresh_token"]
    keys = oauth.public_jwks(client_config)["keys"]
    assert len(keys) == 1 and "d" not in keys[0] and keys[0]["kid"]


def test_a_client_key_that_is_not_a_private_p256_jwk_is_refused_naming_the_setting() -> None:
    assert oauth.parse_client_key("  ") is None
    with pytest.raises(ValueError, match="BLUESKY_OAUTH_KEY is not a JSON Web Key"):
        oauth.parse_client_key("not json")
    public_only = oauth.public_jwks(
        oauth.ClientConfig("x", "y", oauth.parse_client_key(_new_key_json()))
    )["keys"][0]
    with pytest.raises(ValueError, match="private P-256"):
        oauth.parse_client_key(json.dumps(public_only))


@given(st.text(max_size=300))
def test_any_typed_handle_is_either_a_valid_handle_or_explained(typed: str) -> None:
    try:
        handle = oauth.normalise_handle(typed)
    except oauth.HandleNotFound as exc:
        assert "is not a Bluesky handle" in exc.message
        return
    assert handle.startswith("did:") or (
        handle == handle.lower() and "." in handle and " " not in handle
    )


@pytest.mark.parametrize(
    "typed", ["intranet.local", "printer.internal", "my.localhost", "a.onion", "x.arpa"]
)
def test_handles_on_reserved_domains_are_refused_before_any_request(typed: str) -> None:
    with pytest.raises(oauth.HandleNotFound, match="not a Bluesky handle"):
        oauth.normalise_handle(typed)


def test_a_typed_handle_is_trimmed_of_its_at_and_case() -> None:
    assert oauth.normalise_handle("  @Alice.BSKY.social ") == "alice.bsky.social"
    assert oauth.normalise_handle("did:plc:abc123") == "did:plc:abc123"


def test_signing_in_as_another_account_than_the_handle_typed_is_refused(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    typed, other = account(sandbox), account(sandbox)
    pending = client.start(typed.handle)
    back = consent_bluesky(pending.authorize_url, other.handle, "correct horse", routes=routes)

    with pytest.raises(oauth.OtherAccount):
        client.finish(query_of(back), pending)


def test_a_session_made_at_another_address_is_not_refreshed_but_explained(
    client: oauth.OAuthClient, sandbox: Any, routes: dict[str, str]
) -> None:
    _, creds = sign_in(client, sandbox, routes)
    moved = oauth.OAuthClient(
        dataclasses.replace(client.config, client_id="https://moved.example/c.json"),
        client.session,
    )
    with pytest.raises(AuthError, match="WEB_BASE_URL"):
        moved.refreshed(creds)


@pytest.mark.parametrize("did", ["did:web:127.0.0.1", "did:web:localhost", "did:web:10.0.0.8"])
def test_a_did_web_on_this_machine_or_network_is_not_fetched(
    client: oauth.OAuthClient, did: str
) -> None:
    with pytest.raises(oauth.HandleNotFound, match="not a DID atproto supports"):
        client.did_document(did)


def test_new_key_prints_a_key_the_setting_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert oauth.main(["new-key"]) == 0
    printed = capsys.readouterr().out.strip()
    assert "\n" not in printed
    key = oauth.parse_client_key(printed)
    assert key is not None and key["kid"] and "d" in key
    assert oauth.main([]) == 2
