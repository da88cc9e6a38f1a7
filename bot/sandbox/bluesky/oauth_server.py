"""The sandbox's Bluesky authorization server, as strict as the real one where Clarion
could get it wrong.

Served for the Bluesky hosts (bot/sandbox/bluesky/service.py routes ``/oauth/...`` and
``/.well-known/oauth-...`` here):

- ``/.well-known/oauth-protected-resource`` on every PDS host: names ISSUER;
- ``/.well-known/oauth-authorization-server`` on ISSUER_HOST: the metadata atproto
  requires (https://atproto.com/specs/oauth, "Authorization Servers");
- ``POST /oauth/par``: PAR (RFC 9126) with PKCE S256 required, a DPoP proof (RFC 9449)
  with the current server nonce (else 400 ``use_dpop_nonce`` and a ``DPoP-Nonce``
  header), the client checked against its client metadata document, fetched from its
  ``client_id`` URL (or the spec's ``http://localhost?...`` loopback client), and its
  ``private_key_jwt`` assertion verified against its JWKS;
- ``GET/POST /oauth/authorize``: a sign-in form (handle + password of a sandbox
  account), then a redirect to the client's ``redirect_uri`` with ``code``, ``state``
  and ``iss`` (RFC 9207), or ``error=access_denied``;
- ``POST /oauth/token``: the code with its PKCE verifier and the same DPoP key as the
  PAR, or a refresh token (single use, rotated, bound to the DPoP key);
- ``POST /oauth/revoke``: RFC 7009, with a DPoP proof and the client's authentication as
  at the token endpoint; either token of a session ends the whole session (its access
  and refresh tokens), as Bluesky's does; an unknown token is answered 200.

``verify_access`` is what the sandbox's PDS calls for every authenticated XRPC request:
the DPoP-bound token (``cnf.jkt``), the proof's signature, ``htm``/``htu``, ``ath`` and
nonce. It raises ``AccessRefused``, which ``refusal_response`` turns into the PDS's answer.

Unlike Bluesky, client metadata may be fetched over plain http from 127.0.0.1 or
localhost, so tests and rehearsals can serve it from the campaign pages on this machine.
Time here is wall time, not the sandbox clock: DPoP proofs carry real ``iat`` values.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import aiohttp
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from bot.platforms.bluesky.oauth import ASSERTION_TYPE, b64url_sha256, htu_of
from bot.sandbox.templating import templates

logger = logging.getLogger(__name__)

ISSUER_HOST = "bsky.social"
ISSUER = f"https://{ISSUER_HOST}"
NONCE_SECONDS = 180.0  # a nonce is good for its own period and the next one
PAR_SECONDS = 300.0
CODE_SECONDS = 300.0
ACCESS_SECONDS = 900.0
PROOF_SKEW_SECONDS = 300.0
CLIENT_CACHE_SECONDS = 60.0
SCOPES = ("atproto", "transition:generic", "transition:chat.bsky")


class OAuthRefused(Exception):
    """An error answer of the authorization server (RFC 6749 section 5.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class AccessRefused(Exception):
    """An XRPC request whose token or proof does not check out (401), or whose nonce is
    missing or stale (401 ``use_dpop_nonce``: RFC 9449 section 9)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass
class ClientInfo:
    client_id: str
    redirect_uris: list[str]
    scope: set[str]
    auth_method: str
    keys: KeySet | None = None


@dataclass
class Pushed:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    challenge: str
    jkt: str
    login_hint: str
    expires: float


@dataclass
class Grant:
    pushed: Pushed
    did: str
    expires: float
    used: bool = False


@dataclass
class Issued:
    did: str
    jkt: str
    client_id: str
    scope: str
    expires: float = 0.0
    session_id: str = ""  # one sign-in's tokens, refreshed or not: revoked together


@dataclass
class BlueskyOAuthState:
    """Everything the authorization server remembers. Reset with the sandbox."""

    nonce: str = ""
    previous_nonce: str = ""
    nonce_since: float = 0.0
    pushed: dict[str, Pushed] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, Issued] = field(default_factory=dict)
    refresh: dict[str, Issued] = field(default_factory=dict)
    seen_jti: dict[str, float] = field(default_factory=dict)
    clients: dict[str, tuple[float, ClientInfo]] = field(default_factory=dict)
    access_seconds: float = ACCESS_SECONDS
    # Shorter (or longer) lives for some accounts' access tokens, by DID: a test makes a
    # few sessions run out in the middle of a release while the others stay fresh.
    access_seconds_by_did: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Counted for tests and the admin view: how often a nonce had to be asked for, and
    # how many sessions were revoked.
    nonce_challenges: int = 0
    revoked_sessions: int = 0

    def reset(self) -> None:
        with self.lock:
            self.nonce = self.previous_nonce = ""
            self.pushed.clear()
            self.grants.clear()
            self.access.clear()
            self.refresh.clear()
            self.seen_jti.clear()
            self.clients.clear()
            self.access_seconds = ACCESS_SECONDS
            self.access_seconds_by_did.clear()
            self.nonce_challenges = 0
            self.revoked_sessions = 0

    def snapshot(self) -> dict[str, Any]:
        """The tokens issued, so a rehearsal's pledges still sign in after a restart
        (sign-ins in progress, nonces and seen proofs are not kept)."""
        with self.lock:
            return {
                "access": {t: dataclasses.asdict(i) for t, i in self.access.items()},
                "refresh": {t: dataclasses.asdict(i) for t, i in self.refresh.items()},
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.access = {t: Issued(**i) for t, i in (data.get("access") or {}).items()}
            self.refresh = {t: Issued(**i) for t, i in (data.get("refresh") or {}).items()}

    def current_nonce(self) -> str:
        now = time.time()
        if not self.nonce or now - self.nonce_since > NONCE_SECONDS:
            self.rotate_nonce(now)
        return self.nonce

    def live_refresh_tokens(self) -> dict[str, list[str]]:
        """Each DID's refresh tokens not yet spent: a test compares them with what a
        client stored, to see whether a refresh's answer reached it."""
        with self.lock:
            found: dict[str, list[str]] = {}
            for token, issued in self.refresh.items():
                found.setdefault(issued.did, []).append(token)
            return found

    def rotate_nonce(self, now: float | None = None) -> None:
        """A new nonce; the one before stays good until the next rotation."""
        self.previous_nonce = self.nonce
        self.nonce = secrets.token_urlsafe(16)
        self.nonce_since = time.time() if now is None else now

    def nonce_ok(self, nonce: object) -> bool:
        current = self.current_nonce()
        return isinstance(nonce, str) and bool(nonce) and nonce in (current, self.previous_nonce)

    def fresh_jti(self, jti: object, now: float) -> bool:
        """Each proof and assertion once (RFC 9449 section 11.1)."""
        if not isinstance(jti, str) or not jti:
            return False
        for old in [j for j, until in self.seen_jti.items() if until < now]:
            del self.seen_jti[old]
        if jti in self.seen_jti:
            return False
        self.seen_jti[jti] = now + 2 * PROOF_SKEW_SECONDS
        return True


def oauth_of(state: Any) -> BlueskyOAuthState:
    found: BlueskyOAuthState = state.bluesky_oauth
    return found


# -- DPoP --------------------------------------------------------------------------


def check_proof(
    oauth: BlueskyOAuthState,
    proof: str | None,
    method: str,
    url: str,
    *,
    access_token: str | None = None,
) -> tuple[str, str | None]:
    """Verify a DPoP proof; return (its key's thumbprint, a problem with its nonce or
    None). Raises ValueError saying what is wrong with anything else."""
    if not proof:
        raise ValueError("a DPoP proof is required")
    try:
        header = jws.extract_compact(proof.encode()).headers()
    except (JoseError, ValueError) as exc:
        raise ValueError(f"the DPoP proof is not a JWS ({type(exc).__name__})") from None
    if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256":
        raise ValueError("the DPoP proof must be typ dpop+jwt, alg ES256")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or "d" in jwk:
        raise ValueError("the DPoP proof must carry its public key (jwk), and only that")
    try:
        key = ECKey.import_key(jwk)
        claims = jwt.decode(proof, key, algorithms=["ES256"]).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"the DPoP proof's signature is bad ({type(exc).__name__})") from None
    now = time.time()
    if claims.get("htm") != method.upper():
        raise ValueError("the DPoP proof is for another HTTP method (htm)")
    if claims.get("htu") != htu_of(url):
        raise ValueError("the DPoP proof is for another URL (htu)")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(now - iat) > PROOF_SKEW_SECONDS:
        raise ValueError("the DPoP proof's iat is missing or too far from now")
    if access_token is not None and claims.get("ath") != b64url_sha256(access_token):
        raise ValueError("the DPoP proof is not bound to this access token (ath)")
    with oauth.lock:
        if not oauth.fresh_jti(claims.get("jti"), now):
            raise ValueError("the DPoP proof's jti is missing or was used before")
        nonce_problem = None if oauth.nonce_ok(claims.get("nonce")) else "missing or stale"
    return key.thumbprint(), nonce_problem


def verify_access(state: Any, method: str, url: str, headers: Any) -> str:
    """The DID an authenticated XRPC request acts for; raises AccessRefused."""
    oauth = oauth_of(state)
    scheme, _, token = str(headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "dpop" or not token:
        raise AccessRefused("invalid_token", "a DPoP-bound access token is required")
    with oauth.lock:
        issued = oauth.access.get(token)
    if issued is None:
        raise AccessRefused("invalid_token", "unknown access token")
    if time.time() >= issued.expires:
        raise AccessRefused("invalid_token", '"exp" claim timestamp check failed')
    try:
        jkt, nonce_problem = check_proof(
            oauth, headers.get("dpop"), method, url, access_token=token
        )
    except ValueError as exc:
        raise AccessRefused("invalid_dpop_proof", str(exc)) from None
    if jkt != issued.jkt:
        raise AccessRefused("invalid_dpop_proof", "the token is bound to another key")
    if nonce_problem:
        with oauth.lock:
            oauth.nonce_challenges += 1
        raise AccessRefused("use_dpop_nonce", "Authorization server requires nonce")
    return issued.did


def refusal_response(state: Any, exc: AccessRefused) -> Response:
    """The PDS's 401 for ``exc``, with the nonce to use and, for a nonce, the challenge
    clients look for (RFC 9449 section 9)."""
    oauth = oauth_of(state)
    with oauth.lock:
        nonce = oauth.current_nonce()
    challenge = f'DPoP algs="ES256", error="{exc.error}"'
    return JSONResponse(
        {"error": exc.error, "message": exc.description},
        status_code=401,
        headers={"WWW-Authenticate": challenge, "DPoP-Nonce": nonce},
    )


# -- clients ------------------------------------------------------------------------


def _loopback_client(client_id: str) -> ClientInfo | None:
    """The spec's development client: ``http://localhost`` with the redirect URIs and
    scope in its query (spec, "Localhost Client Development")."""
    parts = urlsplit(client_id)
    if parts.scheme != "http" or parts.netloc != "localhost" or parts.path not in ("", "/"):
        return None
    query = parse_qs(parts.query)
    redirects = query.get("redirect_uri") or ["http://127.0.0.1/", "http://[::1]/"]
    scope = set((query.get("scope") or ["atproto"])[0].split())
    return ClientInfo(client_id, redirects, scope, "none")


def _fetchable(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (parts.hostname or "") in ("127.0.0.1", "localhost")


async def _fetch_json(url: str) -> Any:
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, allow_redirects=False) as response,
    ):
        if response.status != 200:
            raise OAuthRefused("invalid_client", f"{url} answered {response.status}")
        return json.loads(await response.read())


async def client_of(oauth: BlueskyOAuthState, client_id: str) -> ClientInfo:
    """The client ``client_id`` names, from its metadata document (cached a minute)."""
    if not client_id:
        raise OAuthRefused("invalid_client", "client_id is required")
    loopback = _loopback_client(client_id)
    if loopback is not None:
        return loopback
    now = time.time()
    cached = oauth.clients.get(client_id)
    if cached and now - cached[0] < CLIENT_CACHE_SECONDS:
        return cached[1]
    if not _fetchable(client_id):
        raise OAuthRefused("invalid_client", "client_id must be an https URL")
    try:
        meta = await _fetch_json(client_id)
        if not isinstance(meta, dict) or meta.get("client_id") != client_id:
            raise OAuthRefused("invalid_client", "the client metadata names another client_id")
        method = str(meta.get("token_endpoint_auth_method") or "none")
        keys = None
        if method == "private_key_jwt":
            jwks = meta.get("jwks")
            if jwks is None and _fetchable(str(meta.get("jwks_uri") or "")):
                jwks = await _fetch_json(str(meta["jwks_uri"]))
            if not isinstance(jwks, dict):
                raise OAuthRefused("invalid_client", "the client publishes no keys")
            keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        elif method != "none":
            raise OAuthRefused("invalid_client", f"unsupported auth method {method}")
    except (aiohttp.ClientError, TimeoutError, ValueError, JoseError, TypeError) as exc:
        raise OAuthRefused(
            "invalid_client", f"the client metadata could not be read ({type(exc).__name__})"
        ) from None
    if meta.get("dpop_bound_access_tokens") is not True:
        raise OAuthRefused("invalid_client", "dpop_bound_access_tokens must be true")
    info = ClientInfo(
        client_id,
        [str(u) for u in meta.get("redirect_uris") or []],
        set(str(meta.get("scope") or "").split()),
        method,
        keys,
    )
    oauth.clients[client_id] = (now, info)
    return info


def _check_client_auth(oauth: BlueskyOAuthState, client: ClientInfo, form: dict[str, str]) -> None:
    """``private_key_jwt`` (RFC 7523): a fresh assertion signed by one of the client's
    keys, for this server; a public client sends none."""
    assertion = form.get("client_assertion")
    if client.auth_method == "none":
        if assertion:
            raise OAuthRefused("invalid_client", "a public client sends no client assertion")
        return
    if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
        raise OAuthRefused("invalid_client", "client authentication (private_key_jwt) required")
    assert client.keys is not None
    try:
        claims = jwt.decode(assertion, client.keys, algorithms=["ES256"]).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise OAuthRefused(
            "invalid_client", f"the client assertion does not verify ({type(exc).__name__})"
        ) from None
    now = time.time()
    aud = claims.get("aud")
    if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
        raise OAuthRefused("invalid_client", "the client assertion is for another client")
    if aud != ISSUER and not (isinstance(aud, list) and ISSUER in aud):
        raise OAuthRefused("invalid_client", "the client assertion is for another server (aud)")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or abs(now - iat) > PROOF_SKEW_SECONDS:
        raise OAuthRefused("invalid_client", "the client assertion is too old")
    with oauth.lock:
        if not oauth.fresh_jti(claims.get("jti"), now):
            raise OAuthRefused("invalid_client", "the client assertion was used before")


# -- endpoints ------------------------------------------------------------------------


def server_metadata() -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/oauth/authorize",
        "token_endpoint": f"{ISSUER}/oauth/token",
        "revocation_endpoint": f"{ISSUER}/oauth/revoke",
        "pushed_authorization_request_endpoint": f"{ISSUER}/oauth/par",
        "require_pushed_authorization_requests": True,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256"],
        "scopes_supported": list(SCOPES),
        "authorization_response_iss_parameter_supported": True,
        "dpop_signing_alg_values_supported": ["ES256"],
        "client_id_metadata_document_supported": True,
        "request_parameter_supported": False,
        "require_request_uri_registration": True,
    }


def _url_of(request: Request) -> str:
    return f"https://{request.scope['sandbox_host']}{request.scope['path']}"


async def _form(request: Request) -> dict[str, str]:
    # Parsed by hand: Starlette's request.form() needs python-multipart.
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))


def _json(oauth: BlueskyOAuthState, body: dict[str, Any], status: int = 200) -> Response:
    with oauth.lock:
        nonce = oauth.current_nonce()
    return JSONResponse(
        body, status_code=status, headers={"DPoP-Nonce": nonce, "Cache-Control": "no-store"}
    )


def _error(oauth: BlueskyOAuthState, exc: OAuthRefused) -> Response:
    return _json(oauth, {"error": exc.error, "error_description": exc.description}, exc.status)


def _proof_of(oauth: BlueskyOAuthState, request: Request) -> str:
    try:
        jkt, nonce_problem = check_proof(
            oauth, request.headers.get("dpop"), "POST", _url_of(request)
        )
    except ValueError as exc:
        raise OAuthRefused("invalid_dpop_proof", str(exc)) from None
    if nonce_problem:
        with oauth.lock:
            oauth.nonce_challenges += 1
        raise OAuthRefused("use_dpop_nonce", "Authorization server requires nonce in DPoP proof")
    return jkt


async def par(state: Any, request: Request) -> Response:
    oauth = oauth_of(state)
    form = await _form(request)
    jkt = _proof_of(oauth, request)
    client = await client_of(oauth, form.get("client_id", ""))
    _check_client_auth(oauth, client, form)
    if form.get("response_type") != "code":
        raise OAuthRefused("unsupported_response_type", "response_type must be code")
    challenge = form.get("code_challenge", "")
    if form.get("code_challenge_method") != "S256" or len(challenge) != 43:
        raise OAuthRefused("invalid_request", "PKCE with code_challenge_method S256 is required")
    if form.get("redirect_uri") not in client.redirect_uris:
        raise OAuthRefused("invalid_request", "redirect_uri is not one of the client's")
    scope = form.get("scope", "").split()
    if "atproto" not in scope or not set(scope) <= client.scope:
        raise OAuthRefused("invalid_scope", "scope must include atproto and only the client's")
    if not form.get("state"):
        raise OAuthRefused("invalid_request", "state is required")
    request_uri = "urn:ietf:params:oauth:request_uri:req-" + secrets.token_hex(16)
    with oauth.lock:
        oauth.pushed[request_uri] = Pushed(
            client_id=client.client_id,
            redirect_uri=form["redirect_uri"],
            scope=" ".join(scope),
            state=form["state"],
            challenge=challenge,
            jkt=jkt,
            login_hint=form.get("login_hint", ""),
            expires=time.time() + PAR_SECONDS,
        )
    return _json(oauth, {"request_uri": request_uri, "expires_in": int(PAR_SECONDS) - 1}, 201)


def _pushed(oauth: BlueskyOAuthState, request_uri: str, client_id: str) -> Pushed | None:
    with oauth.lock:
        found = oauth.pushed.get(request_uri)
    if found is None or found.client_id != client_id or time.time() > found.expires:
        return None
    return found


def _back(pushed: Pushed, **params: str) -> Response:
    query = urlencode({**params, "state": pushed.state, "iss": ISSUER})
    joiner = "&" if "?" in pushed.redirect_uri else "?"
    return RedirectResponse(f"{pushed.redirect_uri}{joiner}{query}", status_code=303)


async def authorize(state: Any, request: Request) -> Response:
    oauth = oauth_of(state)
    if request.method == "GET":
        request_uri = request.query_params.get("request_uri", "")
        client_id = request.query_params.get("client_id", "")
        pushed = _pushed(oauth, request_uri, client_id)
        if pushed is None:
            return HTMLResponse("<h1>This sign-in link is not valid or has expired.</h1>", 400)
        return _page(request, pushed, request_uri, "", 200)
    form = await _form(request)
    request_uri = form.get("request_uri", "")
    pushed = _pushed(oauth, request_uri, form.get("client_id", ""))
    if pushed is None:
        return HTMLResponse("<h1>This sign-in link is not valid or has expired.</h1>", 400)
    if form.get("cancel"):
        with oauth.lock:
            oauth.pushed.pop(request_uri, None)
        return _back(pushed, error="access_denied")
    handle = form.get("handle", "").strip().lstrip("@").lower()
    accounts = state.bluesky
    if not accounts.check_password(handle, form.get("password", "")):
        return _page(request, pushed, request_uri, "Wrong handle or password.", 401)
    account = accounts.account_by_handle(handle)
    code = "cod-" + secrets.token_urlsafe(24)
    with oauth.lock:
        if oauth.pushed.pop(request_uri, None) is None:  # a second submit of the form
            return HTMLResponse("<h1>This sign-in was already used.</h1>", 400)
        oauth.grants[code] = Grant(pushed, account.did, time.time() + CODE_SECONDS)
    return _back(pushed, code=code)


def _page(request: Request, pushed: Pushed, request_uri: str, error: str, status: int) -> Response:
    return templates.TemplateResponse(
        request,
        "bluesky_authorize.html",
        {
            "client_id": pushed.client_id,
            "request_uri": request_uri,
            "login_hint": pushed.login_hint,
            "scope": pushed.scope,
            "error": error,
        },
        status_code=status,
    )


def _issue(
    oauth: BlueskyOAuthState,
    did: str,
    jkt: str,
    client_id: str,
    scope: str,
    session_id: str | None = None,
) -> dict[str, Any]:
    access = "sbx-at-" + secrets.token_urlsafe(32)
    refresh = "sbx-rt-" + secrets.token_urlsafe(32)
    lifetime = oauth.access_seconds_by_did.get(did, oauth.access_seconds)
    sid = session_id or "ses-" + secrets.token_urlsafe(12)
    oauth.access[access] = Issued(did, jkt, client_id, scope, time.time() + lifetime, sid)
    oauth.refresh[refresh] = Issued(did, jkt, client_id, scope, session_id=sid)
    return {
        "access_token": access,
        "token_type": "DPoP",
        "expires_in": int(lifetime),
        "refresh_token": refresh,
        "scope": scope,
        "sub": did,
    }


async def token(state: Any, request: Request) -> Response:
    oauth = oauth_of(state)
    form = await _form(request)
    jkt = _proof_of(oauth, request)
    client = await client_of(oauth, form.get("client_id", ""))
    _check_client_auth(oauth, client, form)
    grant_type = form.get("grant_type")
    with oauth.lock:
        if grant_type == "authorization_code":
            grant = oauth.grants.get(form.get("code", ""))
            if grant is None or grant.used or time.time() > grant.expires:
                raise OAuthRefused("invalid_grant", "unknown, used or expired code")
            grant.used = True  # a code is spent by any attempt, right or wrong
            pushed = grant.pushed
            if pushed.client_id != client.client_id:
                raise OAuthRefused("invalid_grant", "the code was issued to another client")
            if form.get("redirect_uri") != pushed.redirect_uri:
                raise OAuthRefused("invalid_grant", "redirect_uri does not match the request")
            if b64url_sha256(form.get("code_verifier", "") or "-") != pushed.challenge:
                raise OAuthRefused("invalid_grant", "the PKCE code_verifier does not match")
            if jkt != pushed.jkt:
                raise OAuthRefused("invalid_dpop_proof", "DPoP key differs from the PAR's")
            body = _issue(oauth, grant.did, jkt, client.client_id, pushed.scope)
        elif grant_type == "refresh_token":
            old = oauth.refresh.get(form.get("refresh_token", ""))
            if old is None or old.client_id != client.client_id:
                raise OAuthRefused("invalid_grant", "unknown or used refresh token")
            if old.jkt != jkt:
                raise OAuthRefused(
                    "invalid_dpop_proof", "the refresh token is bound to another key"
                )
            del oauth.refresh[form["refresh_token"]]
            body = _issue(oauth, old.did, jkt, client.client_id, old.scope, old.session_id)
        else:
            raise OAuthRefused("unsupported_grant_type", f"grant_type {grant_type!r}")
    state.mark_dirty()
    return _json(oauth, body)


async def revoke(state: Any, request: Request) -> Response:
    oauth = oauth_of(state)
    form = await _form(request)
    _proof_of(oauth, request)
    client = await client_of(oauth, form.get("client_id", ""))
    _check_client_auth(oauth, client, form)
    token = form.get("token", "")
    if not token:
        raise OAuthRefused("invalid_request", "token is required")
    with oauth.lock:
        issued = oauth.refresh.get(token) or oauth.access.get(token)
    if issued is None:
        return _json(oauth, {})  # RFC 7009 section 2.2: unknown tokens are fine
    with oauth.lock:
        if issued.client_id != client.client_id:
            # RFC 7009 section 2.1: the server checks the token was issued to this client.
            raise OAuthRefused("unauthorized_client", "the token was issued to another client")
        for tokens in (oauth.access, oauth.refresh):
            for value in [
                v
                for v, other in tokens.items()
                if v == token or (issued.session_id and other.session_id == issued.session_id)
            ]:
                del tokens[value]
        oauth.revoked_sessions += 1
    state.mark_dirty()
    return _json(oauth, {})


def protected_resource(host: str) -> dict[str, Any]:
    return {
        "resource": f"https://{host}",
        "authorization_servers": [ISSUER],
        "scopes_supported": [],
        "bearer_methods_supported": ["header"],
    }


def serves_path(path: str) -> bool:
    return path.startswith("/oauth/") or path.startswith("/.well-known/oauth-")


async def handle(state: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI for ``/oauth/...`` and ``/.well-known/oauth-...`` on a Bluesky host."""
    request = Request(scope, receive)
    host, path, method = scope["sandbox_host"], scope["path"], scope["method"]
    oauth = oauth_of(state)
    response: Response
    try:
        if path == "/.well-known/oauth-protected-resource" and method == "GET":
            response = JSONResponse(protected_resource(host))
        elif host != ISSUER_HOST:
            response = JSONResponse({"error": "NotFound", "message": path}, status_code=404)
        elif path == "/.well-known/oauth-authorization-server" and method == "GET":
            response = JSONResponse(server_metadata())
        elif path == "/oauth/par" and method == "POST":
            response = await par(state, request)
        elif path == "/oauth/authorize" and method in ("GET", "POST"):
            response = await authorize(state, request)
        elif path == "/oauth/token" and method == "POST":
            response = await token(state, request)
        elif path == "/oauth/revoke" and method == "POST":
            response = await revoke(state, request)
        else:
            response = JSONResponse({"error": "NotFound", "message": path}, status_code=404)
    except OAuthRefused as exc:
        logger.info("sandbox Bluesky OAuth refused %s: %s", path, exc.error)
        response = _error(oauth, exc)
    await response(scope, receive, send)
