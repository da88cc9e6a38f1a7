"""AT Protocol OAuth: how a supporter lets Clarion post to their Bluesky account.

The flow is the one Bluesky documents for web apps
(https://docs.bsky.app/docs/advanced-guides/oauth-client, the spec at
https://atproto.com/specs/oauth):

1. identity: handle -> DID (``https://<handle>/.well-known/atproto-did``, else the
   AppView's ``com.atproto.identity.resolveHandle``), DID -> DID document (plc.directory
   or did:web) -> the account's PDS, checked both ways (the document must claim the
   handle);
2. the PDS's ``/.well-known/oauth-protected-resource`` names its authorization server,
   whose ``/.well-known/oauth-authorization-server`` metadata is checked against what
   atproto requires;
3. a pushed authorization request (PAR, RFC 9126) with PKCE S256 (RFC 7636), a DPoP
   proof (RFC 9449) from a fresh ES256 key for this session, the client's
   ``private_key_jwt`` assertion when it has a key, and the server's DPoP nonce (asked
   for with ``use_dpop_nonce``: one retry with the nonce it sent);
4. the browser goes to the authorization endpoint with ``client_id`` + ``request_uri``;
5. the callback's ``iss`` must be the server we sent it to; the code is exchanged (PKCE
   verifier, same DPoP key) and the token's ``sub`` must be the DID we resolved, whose
   PDS must name that same server;
6. every call to the PDS carries ``Authorization: DPoP <token>`` and a proof bound to
   the token (``ath``), the method and URL; tokens are refreshed before they expire and
   refresh tokens are single-use, so the caller stores what ``refreshed`` returns.

Three kinds of client (spec, "Client Types"): a confidential web client, whose client
metadata document (``client_metadata``) is served from WEB_BASE_URL and whose key
(BLUESKY_OAUTH_KEY) signs a client assertion — Bluesky caps a public client's sessions at
two weeks and keeps a confidential client's for months, which matters for pledges taken
weeks before a release; a public client with the same document when no key is set; and
the spec's loopback development client (``client_id=http://localhost?...``) when
WEB_BASE_URL is http on this machine, since no server can fetch a document from there.

All HTTP goes through ``bot.platforms.http.session_for(routes)``, so a rehearsal's
sandbox answers for every host. JOSE (keys, JWS, thumbprints) is joserfc's. No token,
key or code is ever logged or put into an error message.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from bot.platforms.base import (
    AuthError,
    Credentials,
    PermanentError,
    PlatformError,
    TransientError,
)
from bot.platforms.http import json_or_none

logger = logging.getLogger(__name__)

# "atproto" is required; "transition:generic" grants what app passwords allow (posting,
# reading) until granular scopes are settled (https://atproto.com/specs/oauth#scopes).
SCOPE = "atproto transition:generic"
CLIENT_METADATA_PATH = "/oauth/bluesky/client-metadata.json"
JWKS_PATH = "/oauth/bluesky/jwks.json"
CALLBACK_PATH = "/oauth/bluesky/callback"
# Handles the AppView resolves when the handle's own domain does not answer (it also
# reads the DNS TXT record _atproto.<handle>, which we do not query ourselves).
HANDLE_RESOLVER = "https://public.api.bsky.app"
PLC_DIRECTORY = "https://plc.directory"
DPOP_ALG = "ES256"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Refresh when less than this is left: a release's post must not meet an expired token
# halfway (Bluesky's access tokens live minutes, not hours).
REFRESH_MARGIN_SECONDS = 120
PROOF_LIFETIME_SECONDS = 60
METADATA_SECONDS = 300.0

_HANDLE = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$"
)
_DID = re.compile(r"^did:(plc|web):[a-zA-Z0-9._:%-]+$")
# Top-level domains a handle may not use (https://atproto.com/specs/handle, "Additional
# Non-Syntax Restrictions"): they also keep the handle's own well-known request (made
# from our server) off names that only mean something inside a network.
DISALLOWED_TLDS = frozenset(
    {"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}
)


class HandleNotFound(PermanentError):
    """The handle (or DID) does not lead to a Bluesky account: the supporter mistyped it."""


class OtherAccount(AuthError):
    """The supporter signed in, on their server's page, as another account than the
    handle they typed (the token's ``sub`` is not the DID we resolved)."""


def b64url_sha256(text: str) -> str:
    """base64url(SHA-256(text)) without padding: PKCE's S256 challenge and DPoP's ``ath``."""
    digest = hashlib.sha256(text.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def normalise_handle(raw: str) -> str:
    """``@Alice.bsky.social `` -> ``alice.bsky.social``; a DID is kept as it is.
    Raises HandleNotFound for anything that is neither."""
    text = raw.strip().lstrip("@").strip()
    if _DID.match(text):
        return text
    text = text.lower()
    if len(text) > 253 or not _HANDLE.match(text) or text.rsplit(".", 1)[-1] in DISALLOWED_TLDS:
        raise HandleNotFound(
            f"{raw.strip()[:80]!r} is not a Bluesky handle: it looks like "
            "yourname.bsky.social or your own domain"
        )
    return text


def htu_of(url: str) -> str:
    """The URL a DPoP proof names: no query, no fragment (RFC 9449 section 4.2)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", "", ""))


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _require_public_https(url: Any, what: str) -> str:
    """URLs read from DID documents and server metadata are untrusted (spec: "SSRF"):
    https only, to a name, not to an address on this machine or network."""
    if not isinstance(url, str):
        raise AuthError(f"Bluesky sign-in: {what} is missing")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not host or parts.username or parts.password:
        raise AuthError(f"Bluesky sign-in: {what} is not an https URL")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost" or host.endswith(".localhost"):
            raise AuthError(f"Bluesky sign-in: {what} points at this machine") from None
        return url.rstrip("/") if parts.path in ("", "/") else url
    raise AuthError(f"Bluesky sign-in: {what} is an IP address, not a server name")


# -- DPoP ---------------------------------------------------------------------------


class NonceBook:
    """The latest DPoP nonce each server sent (``DPoP-Nonce``), by origin.

    Nonces belong to a server, not to a session (spec, "DPoP"), and rotate every few
    minutes; one book per process serves every account, under a lock."""

    def __init__(self) -> None:
        self._by_origin: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, url: str) -> str | None:
        with self._lock:
            return self._by_origin.get(origin_of(url))

    def note(self, url: str, headers: Mapping[str, str]) -> str | None:
        """Keep the nonce the answer from ``url`` carried, if any; return it."""
        nonce = headers.get("DPoP-Nonce") or headers.get("dpop-nonce")
        if nonce:
            with self._lock:
                self._by_origin[origin_of(url)] = nonce
        return nonce


NONCES = NonceBook()


def new_dpop_key() -> dict[str, Any]:
    """A fresh ES256 key for one session (spec: never shared between sessions)."""
    return dict(ECKey.generate_key("P-256", private=True).as_dict(private=True))


def dpop_proof(
    private_jwk: Mapping[str, Any],
    method: str,
    url: str,
    *,
    nonce: str | None = None,
    access_token: str | None = None,
) -> str:
    """A DPoP proof JWT for one request (RFC 9449 section 4.2)."""
    key = ECKey.import_key(dict(private_jwk))
    now = int(time.time())
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(16),
        "htm": method.upper(),
        "htu": htu_of(url),
        "iat": now,
        "exp": now + PROOF_LIFETIME_SECONDS,
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["ath"] = b64url_sha256(access_token)
    header = {"typ": "dpop+jwt", "alg": DPOP_ALG, "jwk": key.as_dict(private=False)}
    return jwt.encode(header, claims, key)


def is_nonce_challenge(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the answer asks for a (new) DPoP nonce: 400 ``use_dpop_nonce`` from an
    authorization server, 401 with ``WWW-Authenticate: DPoP error="use_dpop_nonce"``
    from a PDS."""
    if status not in (400, 401):
        return False
    found = json_or_none(body)
    if isinstance(found, dict) and found.get("error") == "use_dpop_nonce":
        return True
    challenge = headers.get("WWW-Authenticate") or headers.get("www-authenticate") or ""
    return "use_dpop_nonce" in challenge


# -- credentials ----------------------------------------------------------------------

CRED_FIELDS = (
    "did",
    "handle",
    "pds_url",
    "auth",
    "access_token",
    "refresh_token",
    "dpop_private_jwk",
    "auth_server",
    "client_id",
    "expires_at",
)


def credentials_of(creds: Mapping[str, Any]) -> Credentials:
    """The dict this module hands out, as the vault stores it: the whole dict (JSON) in
    ``token``, the DID as ``platform_user_id``."""
    return Credentials(token=json.dumps(dict(creds)), secret="", platform_user_id=creds["did"])


def creds_of(credentials: Credentials) -> dict[str, Any]:
    """``credentials_of`` undone; refuses anything that is not an OAuth session."""
    try:
        found = json.loads(credentials.token)
    except ValueError:
        found = None
    if not isinstance(found, dict) or found.get("auth") != "oauth":
        raise AuthError("this Bluesky account has no OAuth session: reconnect it")
    return found


def observe_response(
    creds: Mapping[str, Any], url: str, headers: Mapping[str, str], *, nonces: NonceBook = NONCES
) -> None:
    """Keep the ``DPoP-Nonce`` a PDS sent with its answer to ``creds``' request, so the
    next request to it carries the nonce (the adapter calls this after every answer)."""
    nonces.note(url, headers)


def authorize_request(
    creds: Mapping[str, Any], method: str, url: str, *, nonces: NonceBook = NONCES
) -> dict[str, str]:
    """The headers that let ``creds`` call ``url`` on their PDS: the DPoP-bound access
    token and a proof for this method and URL, with the PDS's latest nonce.

    After the answer, call ``nonces.note(url, response.headers)``; on a nonce challenge
    (``is_nonce_challenge``) build the headers again and send once more."""
    token = str(creds["access_token"])
    proof = dpop_proof(
        creds["dpop_private_jwk"], method, url, nonce=nonces.get(url), access_token=token
    )
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


def needs_refresh(creds: Mapping[str, Any], now: float | None = None) -> bool:
    expires_at = creds.get("expires_at")
    if not isinstance(expires_at, int | float):
        return False
    return (now if now is not None else time.time()) >= expires_at - REFRESH_MARGIN_SECONDS


# -- the client -----------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    did: str
    handle: str
    pds_url: str


@dataclass(frozen=True)
class PendingSignIn:
    """What the callback needs, kept server-side (sealed) between PAR and callback."""

    state: str
    verifier: str
    dpop_private_jwk: dict[str, Any]
    issuer: str
    token_endpoint: str
    did: str
    handle: str
    pds_url: str
    authorize_url: str

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str) -> PendingSignIn:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class ClientConfig:
    client_id: str
    redirect_uri: str
    key: dict[str, Any] | None  # the confidential client's private ES256 JWK, or None

    @property
    def confidential(self) -> bool:
        return self.key is not None


def parse_client_key(raw: str, setting: str = "BLUESKY_OAUTH_KEY") -> dict[str, Any] | None:
    """The client's private key from its setting (a JWK, JSON): None when empty. Raises
    ValueError naming the setting when it is not a private P-256 key."""
    if not raw.strip():
        return None
    try:
        found = json.loads(raw)
        key = ECKey.import_key(found)
    except (ValueError, TypeError, JoseError) as exc:
        raise ValueError(
            f"{setting} is not a JSON Web Key ({type(exc).__name__}); generate one with "
            "`python -m bot.platforms.bluesky.oauth new-key`"
        ) from None
    if key.as_dict(private=False).get("crv") != "P-256" or "d" not in found:
        raise ValueError(f"{setting} must be a private P-256 (ES256) key with its 'd'")
    out = dict(key.as_dict(private=True))
    out["kid"] = str(found.get("kid") or key.thumbprint())
    return out


def is_loopback_base(base_url: str) -> bool:
    parts = urlsplit(base_url)
    return parts.scheme == "http" and (parts.hostname or "") in ("localhost", "127.0.0.1", "::1")


def client_config(base_url: str, key: dict[str, Any] | None) -> ClientConfig:
    """The client Clarion is at ``base_url`` (WEB_BASE_URL); see the module docstring."""
    base = base_url.rstrip("/")
    if is_loopback_base(base):
        # Loopback clients: redirect to 127.0.0.1, not "localhost" (spec, "Localhost
        # Client Development"); public only, so the key is not used.
        parts = urlsplit(base)
        netloc = parts.netloc.replace("localhost", "127.0.0.1", 1)
        redirect = urlunsplit(("http", netloc, parts.path + CALLBACK_PATH, "", ""))
        query = urlencode({"redirect_uri": redirect, "scope": SCOPE})
        return ClientConfig(f"http://localhost?{query}", redirect, None)
    return ClientConfig(f"{base}{CLIENT_METADATA_PATH}", f"{base}{CALLBACK_PATH}", key)


def client_metadata(config: ClientConfig, base_url: str) -> dict[str, Any]:
    """The client metadata document served at ``client_id`` (spec, "Client ID Metadata
    Document")."""
    base = base_url.rstrip("/")
    doc: dict[str, Any] = {
        "client_id": config.client_id,
        "client_name": "Clarion",
        "client_uri": base,
        "application_type": "web",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "redirect_uris": [config.redirect_uri],
        "scope": SCOPE,
        "dpop_bound_access_tokens": True,
        "token_endpoint_auth_method": "private_key_jwt" if config.confidential else "none",
    }
    if config.confidential:
        doc["token_endpoint_auth_signing_alg"] = DPOP_ALG  # the same ES256
        doc["jwks_uri"] = f"{base}{JWKS_PATH}"
    return doc


def public_jwks(config: ClientConfig) -> dict[str, Any]:
    """The client's public key set (jwks_uri): never the private part."""
    if config.key is None:
        return {"keys": []}
    public = dict(ECKey.import_key(config.key).as_dict(private=False))
    public.update({"kid": config.key["kid"], "alg": "ES256", "use": "sig"})
    assert "d" not in public
    return {"keys": [public]}


class OAuthClient:
    """Clarion's AT Protocol OAuth client on one pooled session (``session_for(routes)``)."""

    def __init__(
        self,
        config: ClientConfig,
        session: requests.Session,
        *,
        timeout: float = 15.0,
        nonces: NonceBook = NONCES,
    ) -> None:
        self.config = config
        self.session = session
        self.timeout = timeout
        self.nonces = nonces
        # Servers' metadata, kept a few minutes: a release refreshes thousands of
        # sessions on the same server, and the metadata is the same for all of them.
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}
        self._metadata_lock = threading.Lock()

    # -- HTTP -----------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> Any:
        try:
            response = self.session.get(url, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(
                f"Bluesky sign-in: {what} did not answer ({type(exc).__name__})"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransientError(f"Bluesky sign-in: {what} answered {response.status_code}")
        return json_or_none(response.content)

    def _post_form(
        self, url: str, form: dict[str, str], dpop_jwk: Mapping[str, Any], what: str
    ) -> tuple[int, Any]:
        """POST ``form`` with a DPoP proof; one more time with the server's nonce when it
        asks for one (RFC 9449 section 8). Returns (status, JSON body)."""
        response = None
        for _ in range(2):
            proof = dpop_proof(dpop_jwk, "POST", url, nonce=self.nonces.get(url))
            try:
                response = self.session.post(
                    url,
                    data=form,
                    headers={"DPoP": proof, "Accept": "application/json"},
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise TransientError(
                    f"Bluesky sign-in: {what} did not answer ({type(exc).__name__})"
                ) from None
            fresh = self.nonces.note(url, response.headers)
            if not (is_nonce_challenge(response.status_code, response.headers, response.content)):
                break
            if not fresh:
                break
            logger.debug("Bluesky sign-in: %s asked for a DPoP nonce; sending again", what)
        assert response is not None
        return response.status_code, json_or_none(response.content)

    def _client_auth(self, issuer: str) -> dict[str, str]:
        """``client_id``, plus a signed assertion for a confidential client (RFC 7523,
        spec "Confidential Client Authentication": aud is the server's issuer)."""
        fields = {"client_id": self.config.client_id}
        key = self.config.key
        if key is None:
            return fields
        now = int(time.time())
        claims = {
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": issuer,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + PROOF_LIFETIME_SECONDS,
        }
        header = {"alg": "ES256", "kid": key["kid"]}
        signed = jwt.encode(header, claims, ECKey.import_key(key))
        fields.update({"client_assertion_type": ASSERTION_TYPE, "client_assertion": signed})
        return fields

    # -- identity -------------------------------------------------------------------

    def resolve_handle(self, handle: str) -> str:
        """handle -> DID: the handle's own ``/.well-known/atproto-did``, else the AppView."""
        try:
            response = self.session.get(
                f"https://{handle}/.well-known/atproto-did",
                timeout=self.timeout,
                allow_redirects=False,
            )
            text = response.text.strip() if response.status_code == 200 else ""
            if _DID.match(text):
                return text
        except requests.RequestException:
            pass  # most handles under a provider's domain are resolved by the AppView
        url = f"{HANDLE_RESOLVER}/xrpc/com.atproto.identity.resolveHandle?" + urlencode(
            {"handle": handle}
        )
        try:
            response = self.session.get(url, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(
                f"Bluesky sign-in: the handle resolver did not answer ({type(exc).__name__})"
            ) from None
        # 400 InvalidRequest "Unable to resolve handle" is the AppView's "no such handle".
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(
                f"Bluesky sign-in: the handle resolver answered {response.status_code}"
            )
        found = json_or_none(response.content) if response.status_code == 200 else None
        did = found.get("did") if isinstance(found, dict) else None
        if not isinstance(did, str) or not _DID.match(did):
            raise HandleNotFound(f"no Bluesky account has the handle {handle}")
        return did

    def did_document(self, did: str) -> dict[str, Any]:
        if did.startswith("did:plc:"):
            url = f"{PLC_DIRECTORY}/{did}"
        else:
            host = did.removeprefix("did:web:").replace("%3A", ":")
            if ":" in host:  # did:web with a path is not allowed in atproto
                raise HandleNotFound(f"{did} is not a DID atproto supports")
            try:
                url = _require_public_https(f"https://{host}/.well-known/did.json", did)
            except AuthError:
                raise HandleNotFound(f"{did} is not a DID atproto supports") from None
        doc = self._get_json(url, "the DID directory")
        if not isinstance(doc, dict) or doc.get("id") != did:
            raise HandleNotFound(f"no DID document for {did}")
        return doc

    @staticmethod
    def pds_of(doc: Mapping[str, Any]) -> str:
        for service in doc.get("service") or []:
            if (
                isinstance(service, dict)
                and str(service.get("id", "")).endswith("#atproto_pds")
                and service.get("type") == "AtprotoPersonalDataServer"
            ):
                return _require_public_https(service.get("serviceEndpoint"), "the account's PDS")
        raise HandleNotFound(f"{doc.get('id')} names no Bluesky server (PDS)")

    @staticmethod
    def handle_of(doc: Mapping[str, Any]) -> str | None:
        for aka in doc.get("alsoKnownAs") or []:
            if isinstance(aka, str) and aka.startswith("at://"):
                return aka.removeprefix("at://").lower()
        return None

    def resolve(self, handle_or_did: str) -> Identity:
        """Handle (or DID) -> DID, handle and PDS, verified both ways (spec, "Handle")."""
        given = normalise_handle(handle_or_did)
        did = given if given.startswith("did:") else self.resolve_handle(given)
        doc = self.did_document(did)
        claimed = self.handle_of(doc)
        if given.startswith("did:"):
            if claimed is None or self.resolve_handle(claimed) != did:
                raise HandleNotFound(f"{did} has no verified handle")
            handle = claimed
        elif claimed != given:
            raise HandleNotFound(f"{given} is not confirmed by its account's DID document")
        else:
            handle = given
        return Identity(did, handle, self.pds_of(doc))

    def authorization_server(self, pds_url: str) -> str:
        found = self._get_json(
            f"{pds_url}/.well-known/oauth-protected-resource", "the account's PDS"
        )
        servers = found.get("authorization_servers") if isinstance(found, dict) else None
        if not isinstance(servers, list) or not servers:
            raise AuthError("Bluesky sign-in: the account's PDS names no authorization server")
        return _require_public_https(servers[0], "the authorization server")

    def server_metadata(self, issuer: str) -> dict[str, Any]:
        """The authorization server's metadata, checked against atproto's requirements
        (spec, "Authorization Servers"); read again after METADATA_SECONDS."""
        with self._metadata_lock:
            kept = self._metadata.get(issuer)
        if kept is not None and time.monotonic() - kept[0] < METADATA_SECONDS:
            return kept[1]
        meta = self._fetch_metadata(issuer)
        with self._metadata_lock:
            self._metadata[issuer] = (time.monotonic(), meta)
        return meta

    def _fetch_metadata(self, issuer: str) -> dict[str, Any]:
        meta = self._get_json(
            f"{issuer}/.well-known/oauth-authorization-server", "the authorization server"
        )
        if not isinstance(meta, dict):
            raise AuthError("Bluesky sign-in: the authorization server has no metadata")
        problems = []
        if meta.get("issuer") != issuer:
            problems.append("its issuer is not its own URL")
        if "S256" not in (meta.get("code_challenge_methods_supported") or []):
            problems.append("no PKCE S256")
        if DPOP_ALG not in (meta.get("dpop_signing_alg_values_supported") or []):
            problems.append("no ES256 DPoP")
        if not meta.get("pushed_authorization_request_endpoint"):
            problems.append("no PAR endpoint")
        if meta.get("authorization_response_iss_parameter_supported") is not True:
            problems.append("no iss in its answers")
        methods = meta.get("token_endpoint_auth_methods_supported") or []
        wanted = "private_key_jwt" if self.config.confidential else "none"
        if wanted not in methods:
            problems.append(f"no {wanted} client authentication")
        if problems:
            raise AuthError("Bluesky sign-in: the authorization server " + "; ".join(problems))
        for name in ("pushed_authorization_request_endpoint", "token_endpoint"):
            _require_public_https(meta.get(name), name.replace("_", " "))
        _require_public_https(meta.get("authorization_endpoint"), "authorization endpoint")
        return meta

    # -- the flow -------------------------------------------------------------------

    def start(self, handle_or_did: str) -> PendingSignIn:
        """Resolve the account and push the authorization request; the browser goes to
        ``authorize_url`` next. Raises HandleNotFound, AuthError or TransientError."""
        who = self.resolve(handle_or_did)
        issuer = self.authorization_server(who.pds_url)
        meta = self.server_metadata(issuer)
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48)
        dpop_jwk = new_dpop_key()
        form = {
            "response_type": "code",
            "code_challenge": b64url_sha256(verifier),
            "code_challenge_method": "S256",
            "state": state,
            "redirect_uri": self.config.redirect_uri,
            "scope": SCOPE,
            "login_hint": who.handle,
            **self._client_auth(issuer),
        }
        par_url = meta["pushed_authorization_request_endpoint"]
        status, body = self._post_form(par_url, form, dpop_jwk, "the authorization request")
        request_uri = body.get("request_uri") if isinstance(body, dict) else None
        if status not in (200, 201) or not isinstance(request_uri, str):
            raise _refusal("the authorization request", status, body)
        query = urlencode({"client_id": self.config.client_id, "request_uri": request_uri})
        return PendingSignIn(
            state=state,
            verifier=verifier,
            dpop_private_jwk=dpop_jwk,
            issuer=issuer,
            token_endpoint=meta["token_endpoint"],
            did=who.did,
            handle=who.handle,
            pds_url=who.pds_url,
            authorize_url=f"{meta['authorization_endpoint']}?{query}",
        )

    def finish(self, params: Mapping[str, str], pending: PendingSignIn) -> dict[str, Any]:
        """The callback's query -> the account's creds (module docstring, step 5).

        The caller has already matched ``state`` to ``pending`` (one use, this browser).
        Raises AuthError when anything does not check out."""
        if params.get("iss") != pending.issuer:
            # RFC 9207: without this a mix-up attack could swap in another server's code.
            raise AuthError("Bluesky sign-in: the answer came from another server (iss)")
        if params.get("error"):
            raise AuthError(f"Bluesky sign-in refused: {str(params['error'])[:80]}")
        code = params.get("code") or ""
        if not code:
            raise AuthError("Bluesky sign-in: the answer has no code")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": pending.verifier,
            "redirect_uri": self.config.redirect_uri,
            **self._client_auth(pending.issuer),
        }
        tokens = self._token_call(pending.token_endpoint, form, pending.dpop_private_jwk)
        if tokens.get("sub") != pending.did:
            raise OtherAccount("Bluesky sign-in: the account signed in is not the one asked for")
        # The DID's own PDS must name this server (spec, "Authorization Response"):
        # otherwise any server could claim any account.
        pds_url = self.pds_of(self.did_document(pending.did))
        if self.authorization_server(pds_url) != pending.issuer:
            raise AuthError("Bluesky sign-in: that server does not speak for this account")
        return self._creds(
            tokens, pending.did, pending.handle, pds_url, pending.issuer, pending.dpop_private_jwk
        )

    def refreshed(self, creds: Mapping[str, Any]) -> dict[str, Any]:
        """New tokens for ``creds`` (refresh_token grant). The old refresh token is used
        up (Bluesky rotates them): store the result before anything else."""
        if creds.get("client_id") != self.config.client_id:
            # Sessions belong to the client that made them (its client_id, its key): a
            # changed WEB_BASE_URL cannot refresh them.
            raise AuthError(
                "this Bluesky sign-in was made by Clarion at another address (WEB_BASE_URL "
                "changed): the supporter must sign in again"
            )
        issuer = str(creds["auth_server"])
        meta = self.server_metadata(issuer)
        form = {
            "grant_type": "refresh_token",
            "refresh_token": str(creds["refresh_token"]),
            **self._client_auth(issuer),
        }
        tokens = self._token_call(meta["token_endpoint"], form, creds["dpop_private_jwk"])
        if tokens.get("sub") != creds["did"]:
            raise AuthError("Bluesky refresh: the token is for another account")
        return self._creds(
            tokens,
            str(creds["did"]),
            str(creds["handle"]),
            str(creds["pds_url"]),
            issuer,
            creds["dpop_private_jwk"],
        )

    def fresh(self, creds: Mapping[str, Any], now: float | None = None) -> dict[str, Any] | None:
        """``refreshed(creds)`` when the access token is about to expire, else None."""
        return self.refreshed(creds) if needs_refresh(creds, now) else None

    def revoke(self, creds: Mapping[str, Any]) -> None:
        """End the session at its authorization server: RFC 7009 at the metadata's
        ``revocation_endpoint``, the refresh token then the access token, each with the
        session's DPoP key and the client's authentication — the revocation endpoint
        authenticates clients as the token endpoint does (``@atproto/oauth-provider``).
        Bluesky ends the whole session for either token; both are sent for servers that
        revoke only the one named. An unknown token is answered 200 (RFC 7009 section
        2.2), so revoking twice is harmless. One attempt per token: TransientError when
        the server does not answer (or refuses a DPoP proof a later one may pass);
        PermanentError when it refuses the client (``revocation_refusal``)."""
        if creds.get("client_id") != self.config.client_id:
            raise PermanentError(
                "this Bluesky session was made by Clarion at another address (WEB_BASE_URL "
                "changed), which alone may revoke it"
            )
        issuer = str(creds["auth_server"])
        endpoint = self.server_metadata(issuer).get("revocation_endpoint")
        if not endpoint:
            raise PermanentError("Bluesky: the authorization server offers no revocation")
        endpoint = _require_public_https(endpoint, "revocation endpoint")
        for hint in ("refresh_token", "access_token"):
            form = {"token": str(creds[hint]), "token_type_hint": hint, **self._client_auth(issuer)}
            status, body = self._post_form(
                endpoint, form, creds["dpop_private_jwk"], "the revocation request"
            )
            if status != 200:
                raise revocation_refusal(status, body)

    def _token_call(
        self, url: str, form: dict[str, str], dpop_jwk: Mapping[str, Any]
    ) -> dict[str, Any]:
        status, body = self._post_form(url, form, dpop_jwk, "the token request")
        if status != 200 or not isinstance(body, dict):
            raise _refusal("the token request", status, body)
        if str(body.get("token_type", "")).lower() != "dpop":
            raise AuthError("Bluesky sign-in: the token is not DPoP-bound")
        if "atproto" not in str(body.get("scope", "")).split():
            raise AuthError("Bluesky sign-in: the token lacks the atproto scope")
        if not body.get("access_token") or not body.get("refresh_token"):
            raise AuthError("Bluesky sign-in: the answer lacks a token")
        return body

    def _creds(
        self,
        tokens: Mapping[str, Any],
        did: str,
        handle: str,
        pds_url: str,
        issuer: str,
        dpop_jwk: Mapping[str, Any],
    ) -> dict[str, Any]:
        expires_in = tokens.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 300.0
        return {
            "did": did,
            "handle": handle,
            "pds_url": pds_url,
            "auth": "oauth",
            "access_token": str(tokens["access_token"]),
            "refresh_token": str(tokens["refresh_token"]),
            "dpop_private_jwk": dict(dpop_jwk),
            "auth_server": issuer,
            "client_id": self.config.client_id,
            "expires_at": time.time() + lifetime,
        }


def _refusal(what: str, status: int, body: Any) -> Exception:
    """An authorization server's error answer (RFC 6749 section 5.2) as our error."""
    error = body.get("error") if isinstance(body, dict) else None
    if status >= 500 or status == 429:
        return TransientError(f"Bluesky sign-in: {what} answered {status}", code=status)
    if isinstance(error, str):
        return AuthError(f"Bluesky sign-in: {what} was refused ({error[:60]})", code=error)
    return AuthError(f"Bluesky sign-in: {what} answered {status}", code=status)


# Errors a revocation endpoint answers that a later attempt with a fresh proof can pass:
# a nonce still wanted after the one retry ``_post_form`` makes (RFC 9449 section 8), and
# a proof refused for its time or jti (RFC 9449 section 11.1: servers bound ``iat`` and
# reject replays; clock skew heals). A proof never accepted is given up on after
# ``revocations.GIVE_UP_AFTER``.
_REVOCATION_RETRYABLE = frozenset({"use_dpop_nonce", "invalid_dpop_proof"})


def revocation_refusal(status: int, body: Any) -> PlatformError:
    """A revocation endpoint's non-200 answer as our error. RFC 7009 section 2.2: an
    unknown, expired or already revoked token is answered 200, so a 4xx never means the
    token is dead; it refuses the client (invalid_client, unauthorized_client: the token
    is another client's) or the request (invalid_request, section 2.2.1), which asking
    again will not change: PermanentError. 5xx and 429: TransientError."""
    error = body.get("error") if isinstance(body, dict) else None
    if status >= 500 or status == 429:
        return TransientError(f"Bluesky: the revocation request answered {status}", code=status)
    if isinstance(error, str) and error in _REVOCATION_RETRYABLE:
        return TransientError(
            f"Bluesky: the revocation request's DPoP proof was refused ({error})", code=error
        )
    if isinstance(error, str):
        return PermanentError(
            f"Bluesky refused Clarion's revocation request ({error[:60]})", code=error
        )
    return PermanentError(f"Bluesky: the revocation request answered {status}", code=status)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.platforms.bluesky.oauth new-key``: a private key for
    BLUESKY_OAUTH_KEY, printed once for the operator to put in config.env."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["new-key"]:
        sys.stderr.write("usage: python -m bot.platforms.bluesky.oauth new-key\n")
        return 2
    key = ECKey.generate_key("P-256", private=True)
    jwk = dict(key.as_dict(private=True))
    jwk["kid"] = key.thumbprint()
    sys.stdout.write(json.dumps(jwk, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
