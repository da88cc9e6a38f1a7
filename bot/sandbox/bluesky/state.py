"""The sandbox's Bluesky accounts: handle, DID, password, the PDS that holds them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass

PDS_HOST = "pds.bsky.network"
HANDLE_SUFFIX = ".bsky.social"


@dataclass
class BlueskyAccount:
    did: str
    handle: str
    password: str
    pds_host: str = PDS_HOST

    @property
    def pds_url(self) -> str:
        return f"https://{self.pds_host}"


class BlueskySandbox:
    def __init__(self) -> None:
        self.accounts: dict[str, BlueskyAccount] = {}  # by DID
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.accounts.clear()

    def create_account(self, handle: str, password: str) -> BlueskyAccount:
        handle = handle.lower().lstrip("@")
        if "." not in handle:
            handle += HANDLE_SUFFIX
        with self._lock:
            if self.account_by_handle(handle) is not None:
                raise ValueError(f"the handle {handle} is taken")
            did = "did:plc:" + secrets.token_hex(12)
            account = BlueskyAccount(did, handle, password)
            self.accounts[did] = account
            return account

    def account_by_handle(self, handle: str) -> BlueskyAccount | None:
        wanted = handle.lower().lstrip("@")
        return next((a for a in self.accounts.values() if a.handle == wanted), None)

    def account_by_did(self, did: str) -> BlueskyAccount | None:
        return self.accounts.get(did)

    def check_password(self, handle: str, password: str) -> bool:
        account = self.account_by_handle(handle)
        if account is None:
            return False
        given = hashlib.sha256(password.encode()).digest()
        kept = hashlib.sha256(account.password.encode()).digest()
        return hmac.compare_digest(given, kept)

    def serves_handle(self, host: str) -> bool:
        return self.account_by_handle(host) is not None
