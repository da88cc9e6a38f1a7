"""Accounts' tokens, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

MultiFernet takes several keys, newest first: new ciphertext uses the first, old
ciphertext still opens with any, and ``rotate`` re-encrypts under the newest. The keys
live in config.env (TOKEN_ENCRYPTION_KEYS), never in the database beside the tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.platforms.base import Credentials
from bot.settings import ConfigError, Secret


class VaultError(Exception):
    """A stored credential could not be opened (wrong or missing key)."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


class Vault:
    def __init__(self, keys: Secret) -> None:
        raw = [k.strip() for k in keys.reveal().split(",") if k.strip()]
        if not raw:
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEYS is not set, so account tokens cannot be stored or read: "
                "run `python main.py init` to generate a key"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in raw])
            # fingerprints use the oldest key so they survive a rotation
            self._fingerprint_key = hashlib.sha256(b"fingerprint:" + raw[-1].encode()).digest()
        except (ValueError, TypeError):
            raise ConfigError(
                "TOKEN_ENCRYPTION_KEYS holds a value that is not a Fernet key (44 characters of "
                "url-safe base64); generate one with `python main.py keys generate`"
            ) from None

    def seal(self, creds: Credentials) -> str:
        payload = {"token": creds.token, "secret": creds.secret, "uid": creds.platform_user_id}
        if creds.server:
            payload["server"] = creds.server
        return self._fernet.encrypt(json.dumps(payload).encode()).decode()

    def open(self, ciphertext: str) -> Credentials:
        try:
            payload = json.loads(self._fernet.decrypt(ciphertext.encode()))
        except InvalidToken:
            raise VaultError(
                "a stored token cannot be decrypted with TOKEN_ENCRYPTION_KEYS; was a key "
                "removed? Put the old key back after the new one"
            ) from None
        return Credentials(
            token=payload["token"],
            secret=payload["secret"],
            platform_user_id=payload["uid"],
            server=payload.get("server", ""),
        )

    def seal_text(self, text: str) -> str:
        """Seal a secret that is not an account token (a webhook URL or signing secret)."""
        return self._fernet.encrypt(text.encode()).decode()

    def open_text(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise VaultError(
                "a stored secret cannot be decrypted with TOKEN_ENCRYPTION_KEYS; was a key "
                "removed? Put the old key back after the new one"
            ) from None

    def fingerprint(self, token: str) -> str:
        """A stable, keyed digest of a token: equal tokens, equal fingerprints; the token
        cannot be recovered from it."""
        return hmac.new(self._fingerprint_key, token.encode(), hashlib.sha256).hexdigest()[:32]

    def rotate(self, ciphertext: str) -> str:
        return self._fernet.rotate(ciphertext.encode()).decode()
