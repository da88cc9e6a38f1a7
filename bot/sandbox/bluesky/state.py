"""Everything the Bluesky stand-in knows: accounts, sessions, repositories, write budgets.

One ``BlueskySandbox`` hangs off ``SandboxState.bluesky``. Its accounts live on one PDS
(``https://pds.bsky.network``: a host of its own, as Bluesky's PDSes are, apart from the
entryway ``bsky.social`` where people sign in); their DIDs are ``did:plc:...``
documents served by the sandbox's plc.directory naming that PDS. What the OAuth authorization server
(``oauth_server.py``) needs to sign people in is public here: ``account_by_handle``,
``account_by_did`` and ``check_password``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import regex

from bot.platforms.record_keys import is_tid
from bot.sandbox import engagement
from bot.sandbox.clock import SandboxClock

PDS_URL = "https://pds.bsky.network"
PDS_HOST = "pds.bsky.network"
HANDLE_DOMAIN = "bsky.social"  # where handles without a domain of their own live
POST_COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300  # app.bsky.feed.post lexicon: text maxGraphemes
MAX_BYTES = 3000  # ... and maxLength, which Lexicon counts in UTF-8 bytes
# Write points per account (https://docs.bsky.app/docs/advanced-guides/rate-limits):
# 5,000 an hour, 35,000 a day; create 3, update 2, delete 1.
WRITE_POINTS_PER_HOUR = 5000
WRITE_POINTS_PER_DAY = 35000
CREATE_POINTS = 3
UPDATE_POINTS = 2
ACCESS_LIFETIME_S = 2 * 3600.0  # app-password access JWTs last about two hours
REFRESH_LIFETIME_S = 90 * 24 * 3600.0


class XrpcError(Exception):
    """An XRPC error answer: ``{"error": name, "message": message}`` with ``status``."""

    def __init__(
        self, status: int, name: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.name, "message": self.message}


@dataclass
class BlueskyAccount:
    did: str
    handle: str
    password: str = field(repr=False)  # the app password the CLI signs in with
    display_name: str = ""
    followers: int = 100
    active: bool = True


@dataclass
class Record:
    uri: str
    cid: str
    did: str
    collection: str
    rkey: str
    value: dict[str, Any]
    created: float  # sandbox protocol time
    counts: dict[str, int] | None = None  # set by the admin API; else simulated


@dataclass
class Session:
    did: str
    expires: float
    refresh: bool


def cid_of(value: Any) -> str:
    """A CID-shaped content hash (base32 of sha256): equal records, equal CIDs."""
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "bafyrei" + base64.b32encode(digest).decode().lower().rstrip("=")[:52]


def graphemes(text: str) -> int:
    """Extended grapheme clusters (UAX #29), as the lexicon's maxGraphemes counts."""
    return len(regex.findall(r"\X", text))


class BlueskySandbox:
    """Accounts, sessions and repositories of the Bluesky stand-in (thread-safe)."""

    def __init__(self, clock: SandboxClock, seed: int = 1) -> None:
        self.clock = clock
        self.seed = seed
        self.lock = threading.RLock()
        self._secret = secrets.token_bytes(32)
        self.access_lifetime_s = ACCESS_LIFETIME_S
        self.write_points_per_hour = WRITE_POINTS_PER_HOUR
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accounts: dict[str, BlueskyAccount] = {}
            self.handles: dict[str, str] = {}  # lower-case handle -> DID
            self.sessions: dict[str, Session] = {}  # token -> session
            self.records: dict[str, dict[tuple[str, str], Record]] = {}  # did -> records
            self.points: dict[str, tuple[float, int]] = {}  # did -> (window end, points)
            self.writes = 0  # records created or replaced: exactly-once checks count them
            self.access_lifetime_s = ACCESS_LIFETIME_S
            self.write_points_per_hour = WRITE_POINTS_PER_HOUR

    # -- accounts ------------------------------------------------------------------------

    def create_account(
        self,
        handle: str,
        password: str | None = None,
        *,
        display_name: str = "",
        followers: int = 100,
    ) -> BlueskyAccount:
        handle = handle.lower().lstrip("@")
        if "." not in handle:
            handle = f"{handle}.{HANDLE_DOMAIN}"
        with self.lock:
            if handle in self.handles:
                raise ValueError(f"handle {handle!r} is taken")
            digest = hashlib.sha256(f"{self.seed}:{handle}".encode()).digest()
            did = "did:plc:" + base64.b32encode(digest).decode().lower()[:24]
            account = BlueskyAccount(
                did,
                handle,
                password or "-".join(secrets.token_hex(2) for _ in range(4)),
                display_name or handle.split(".")[0],
                followers,
            )
            self.accounts[did] = account
            self.handles[handle] = did
            self.records[did] = {}
            return account

    def account_by_handle(self, handle: str) -> BlueskyAccount | None:
        with self.lock:
            did = self.handles.get(handle.lower().lstrip("@"))
            return self.accounts.get(did) if did else None

    def account_by_did(self, did: str) -> BlueskyAccount | None:
        with self.lock:
            return self.accounts.get(did)

    def account_for(self, actor: str) -> BlueskyAccount | None:
        """By DID or handle, as ``actor`` parameters take either."""
        return (
            self.account_by_did(actor)
            if actor.startswith("did:")
            else self.account_by_handle(actor)
        )

    def check_password(self, handle: str, password: str) -> BlueskyAccount | None:
        """The account when ``password`` is its app password (compared in constant time)."""
        account = self.account_for(handle)
        if account is None or not hmac.compare_digest(account.password, password):
            return None
        return account

    def did_document(self, did: str) -> dict[str, Any] | None:
        account = self.account_by_did(did)
        if account is None:
            return None
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": did,
            "alsoKnownAs": [f"at://{account.handle}"],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": PDS_URL,
                }
            ],
        }

    # -- sessions ------------------------------------------------------------------------

    def _token(self, did: str, scope: str, lifetime: float) -> str:
        now = self.clock.time()
        header = {"typ": "at+jwt" if scope == "access" else "refresh+jwt", "alg": "HS256"}
        claims = {
            "scope": f"com.atproto.{scope}",
            "sub": did,
            "iat": int(now),
            "exp": int(now + lifetime),
            "jti": secrets.token_hex(8),
        }
        parts = [
            base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
            for p in (header, claims)
        ]
        signing = ".".join(parts).encode()
        signature = hmac.new(self._secret, signing, hashlib.sha256).digest()
        token = ".".join([*parts, base64.urlsafe_b64encode(signature).decode().rstrip("=")])
        self.sessions[token] = Session(did, now + lifetime, scope == "refresh")
        return token

    def new_session(self, did: str) -> dict[str, Any]:
        """createSession's answer for ``did``."""
        with self.lock:
            account = self.accounts[did]
            return {
                "did": did,
                "handle": account.handle,
                "accessJwt": self._token(did, "access", self.access_lifetime_s),
                "refreshJwt": self._token(did, "refresh", REFRESH_LIFETIME_S),
                "active": account.active,
                "didDoc": self.did_document(did),
            }

    def session_did(self, token: str, *, refresh: bool = False) -> str:
        """The DID a bearer token belongs to; XrpcError as the PDS would answer."""
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.refresh != refresh:
                raise XrpcError(400, "InvalidToken", "Token could not be verified")
            if session.expires <= self.clock.time():
                raise XrpcError(400, "ExpiredToken", "Token has expired")
            account = self.accounts.get(session.did)
            if account is None or not account.active:
                raise XrpcError(400, "AccountDeactivated", "Account is deactivated")
            return session.did

    def refresh_session(self, token: str) -> dict[str, Any]:
        """refreshSession: a new pair; the refresh token used is retired at once."""
        with self.lock:
            did = self.session_did(token, refresh=True)
            del self.sessions[token]
            return self.new_session(did)

    def revoke(self, did: str) -> int:
        """Forget every session of ``did`` (the user revoked the app password)."""
        with self.lock:
            gone = [t for t, s in self.sessions.items() if s.did == did]
            for token in gone:
                del self.sessions[token]
            return len(gone)

    # -- write budget --------------------------------------------------------------------

    def spend(self, did: str, points: int) -> dict[str, str]:
        """Count ``points`` of ``did``'s hourly write budget; the rate-limit headers, or
        XrpcError 429 (with them) when the budget is spent."""
        now = self.clock.wall()
        limit = self.write_points_per_hour
        with self.lock:
            end, used = self.points.get(did, (0.0, 0))
            if now >= end:
                end, used = now + 3600, 0
            over = used + points > limit
            if not over:
                used += points
            self.points[did] = (end, used)
        headers = {
            "ratelimit-limit": str(limit),
            "ratelimit-remaining": str(max(limit - used, 0)),
            "ratelimit-reset": str(int(end) + 1),
            "ratelimit-policy": f"{limit};w=3600",
        }
        if over:
            raise XrpcError(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        return headers

    # -- repositories --------------------------------------------------------------------

    def _validate(self, collection: str, rkey: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise XrpcError(400, "InvalidRequest", "record must be an object")
        if collection != POST_COLLECTION:
            return
        if not is_tid(rkey):
            raise XrpcError(400, "InvalidRequest", f"Invalid record key for a post: {rkey}")
        text = value.get("text")
        if not isinstance(text, str) or not isinstance(value.get("createdAt"), str):
            raise XrpcError(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        if graphemes(text) > MAX_GRAPHEMES:
            raise XrpcError(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not be longer than "
                f"{MAX_GRAPHEMES} graphemes",
            )
        size = len(text.encode())
        if size > MAX_BYTES:
            raise XrpcError(
                400,
                "InvalidRequest",
                f"Invalid app.bsky.feed.post record: Record/text must not be longer than "
                f"{MAX_BYTES} characters",
            )
        for facet in value.get("facets") or []:
            index = facet.get("index") if isinstance(facet, dict) else None
            start = index.get("byteStart") if isinstance(index, dict) else None
            end = index.get("byteEnd") if isinstance(index, dict) else None
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= size):
                raise XrpcError(400, "InvalidRequest", "Invalid facet byte range")
        reply = value.get("reply")
        if reply is not None:
            for ref in ("root", "parent"):
                target = reply.get(ref) if isinstance(reply, dict) else None
                if not (isinstance(target, dict) and self.find(str(target.get("uri")))):
                    raise XrpcError(400, "InvalidRequest", f"reply {ref} not found")

    def find(self, uri: str) -> Record | None:
        if not uri.startswith("at://"):
            return None
        parts = uri[5:].split("/")
        if len(parts) != 3:
            return None
        with self.lock:
            return self.records.get(parts[0], {}).get((parts[1], parts[2]))

    def write_record(
        self,
        did: str,
        collection: str,
        rkey: str,
        value: Any,
        *,
        create: bool,
        swap: str | None | bool = False,
    ) -> Record:
        """createRecord (``create``: refused when the key is taken) or putRecord (``swap``:
        False = no check, None = must not exist yet, a CID = must be that version)."""
        self._validate(collection, rkey, value)
        with self.lock:
            repo = self.records.setdefault(did, {})
            existing = repo.get((collection, rkey))
            if create and existing is not None:
                raise XrpcError(
                    400, "InvalidRequest", f"Record already exists: at://{did}/{collection}/{rkey}"
                )
            if swap is not False:
                current = existing.cid if existing is not None else None
                if current != swap:
                    raise XrpcError(400, "InvalidSwap", f"Record was at {current}")
            uri = f"at://{did}/{collection}/{rkey}"
            record = Record(uri, cid_of(value), did, collection, rkey, value, self.clock.time())
            repo[(collection, rkey)] = record
            self.writes += 1
            return record

    def list_records(
        self, did: str, collection: str, limit: int, cursor: str | None
    ) -> tuple[list[Record], str | None]:
        """Newest first (record keys descending), from below ``cursor``."""
        with self.lock:
            keys = sorted(
                (rk for (col, rk) in self.records.get(did, {}) if col == collection), reverse=True
            )
            if cursor:
                keys = [k for k in keys if k < cursor]
            page = [self.records[did][(collection, k)] for k in keys[:limit]]
        after = page[-1].rkey if len(keys) > limit else None
        return page, after

    # -- AppView -------------------------------------------------------------------------

    def counts(self, record: Record) -> dict[str, int]:
        if record.counts is not None:
            return dict(record.counts)
        account = self.accounts.get(record.did)
        return engagement.metrics(
            "bluesky",
            followers=account.followers if account else 0,
            age_seconds=self.clock.engagement_age(record.created),
            seed=self.seed,
            post_id=record.uri,
        )

    def post_view(self, record: Record) -> dict[str, Any]:
        account = self.accounts[record.did]
        return {
            "uri": record.uri,
            "cid": record.cid,
            "author": {
                "did": account.did,
                "handle": account.handle,
                "displayName": account.display_name,
            },
            "record": record.value,
            "indexedAt": _iso(record.created),
            **self.counts(record),
        }

    def set_counts(self, uri: str, counts: dict[str, int]) -> Record:
        record = self.find(uri)
        if record is None:
            raise ValueError(f"no post {uri!r}")
        record.counts = {k: int(counts.get(k, 0)) for k in engagement.BLUESKY_KEYS}
        return record

    def delete(self, uri: str) -> bool:
        record = self.find(uri)
        if record is None:
            return False
        with self.lock:
            del self.records[record.did][(record.collection, record.rkey)]
        return True

    def posts_of(self, did: str) -> list[Record]:
        """The account's posts, newest first."""
        page, _ = self.list_records(did, POST_COLLECTION, 1_000_000, None)
        return page

    # -- persistence and the timeline page ------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "accounts": [asdict(a) for a in self.accounts.values()],
                "records": [asdict(r) for repo in self.records.values() for r in repo.values()],
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.reset()
            for raw in data.get("accounts", []):
                account = BlueskyAccount(**raw)
                self.accounts[account.did] = account
                self.handles[account.handle] = account.did
                self.records[account.did] = {}
            for raw in data.get("records", []):
                record = Record(**raw)
                self.records.setdefault(record.did, {})[(record.collection, record.rkey)] = record

    def timeline(self) -> list[dict[str, Any]]:
        return [
            {
                "platform": "bluesky",
                "id": account.did,
                "name": f"@{account.handle}",
                "followers": account.followers,
                "posts": [
                    {
                        "id": record.uri,
                        "text": record.value.get("text", ""),
                        "created_at": _iso(record.created),
                        "url": f"https://bsky.app/profile/{account.handle}/post/{record.rkey}",
                        "reply_to": ((record.value.get("reply") or {}).get("parent") or {}).get(
                            "uri"
                        ),
                        "metrics": self.counts(record),
                    }
                    for record in self.posts_of(account.did)
                ],
            }
            for account in list(self.accounts.values())
        ]


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
