"""The Mastodon instances one sandbox stands in for: apps, accounts, tokens, statuses.

Shapes follow Mastodon's own entities (https://docs.joinmastodon.org/entities/Status/,
/Account/, /Application/, /Instance/), so Mastodon.py reads them as it reads a real
server's.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bot.sandbox import engagement
from bot.sandbox.clock import SandboxClock
from bot.sandbox.page import iso

DEFAULT_MAX_CHARACTERS = 500
# Mastodon's "statuses" rate limiter family: 300 per 3 hours per account.
DEFAULT_STATUSES_PER_WINDOW = 300
DEFAULT_STATUSES_WINDOW_S = 3 * 3600
# Mastodon keeps an Idempotency-Key for an hour (PostStatusService, "idempotency" in Redis).
IDEMPOTENCY_TTL_S = 3600.0
OOB = "urn:ietf:wg:oauth:2.0:oob"
_URL = re.compile(r"https?://[^\s<]+[^\s<.,:;\"')\]!?]")


@dataclass
class App:
    client_id: str
    client_secret: str
    name: str
    redirect_uris: list[str]
    scopes: list[str]
    website: str | None = None


@dataclass
class Account:
    id: str
    username: str
    display_name: str
    followers: int
    bot: bool = False


@dataclass
class Token:
    token: str
    account_id: str
    scopes: list[str]
    client_id: str | None = None
    revoked: bool = False


@dataclass
class Grant:
    code: str
    client_id: str
    account_id: str
    redirect_uri: str
    scopes: list[str]
    expires: float


@dataclass
class Status:
    id: str
    account_id: str
    text: str
    created_at: float
    in_reply_to_id: str | None = None
    application: str | None = None


@dataclass
class Instance:
    host: str
    max_characters: int = DEFAULT_MAX_CHARACTERS
    statuses_per_window: int = DEFAULT_STATUSES_PER_WINDOW
    statuses_window_s: int = DEFAULT_STATUSES_WINDOW_S
    apps: dict[str, App] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    statuses: dict[str, Status] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], tuple[float, str]] = field(default_factory=dict)
    # Kept as statuses are made, so rendering one never scans the instance (a release
    # puts thousands on one instance at once).
    statuses_by_account: dict[str, int] = field(default_factory=dict)
    replies_to: dict[str, int] = field(default_factory=dict)

    def count(self, status: Status) -> None:
        self.statuses_by_account[status.account_id] = (
            self.statuses_by_account.get(status.account_id, 0) + 1
        )
        if status.in_reply_to_id:
            self.replies_to[status.in_reply_to_id] = (
                self.replies_to.get(status.in_reply_to_id, 0) + 1
            )

    @property
    def base(self) -> str:
        return f"https://{self.host}"

    def account_by_name(self, username: str) -> Account | None:
        name = username.strip().lstrip("@").split("@", 1)[0].lower()
        for account in self.accounts.values():
            if account.username.lower() == name:
                return account
        return None


def has_scope(granted: list[str], needed: str) -> bool:
    """``read`` covers ``read:statuses``: Mastodon's scope hierarchy
    (https://docs.joinmastodon.org/api/oauth-scopes/)."""
    return needed in granted or needed.split(":", 1)[0] in granted


def render(text: str) -> str:
    """A status' ``content`` as Mastodon renders plain text: paragraphs, ``<br />``, URLs
    as links whose scheme is hidden (TextFormatter)."""

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        scheme, _, rest = url.partition("://")
        return (
            f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener noreferrer" '
            f'translate="no"><span class="invisible">{html.escape(scheme)}://</span>'
            f'<span class="">{html.escape(rest)}</span><span class="invisible"></span></a>'
        )

    paragraphs = re.split(r"\n{2,}", text.strip())
    rendered = []
    for paragraph in paragraphs:
        pieces = []
        last = 0
        for match in _URL.finditer(paragraph):
            pieces.append(html.escape(paragraph[last : match.start()]))
            pieces.append(link(match))
            last = match.end()
        pieces.append(html.escape(paragraph[last:]))
        rendered.append("<p>" + "".join(pieces).replace("\n", "<br />") + "</p>")
    return "".join(rendered)


class MastodonWorld:
    """Every instance, keyed by host; one lock (handlers run in one event loop, but the
    admin API and tests may reach in from threads)."""

    def __init__(self, clock: SandboxClock, seed: int) -> None:
        self.clock = clock
        self.seed = seed
        self.instances: dict[str, Instance] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(int(time.time() * 1000) << 16)

    def reset(self) -> None:
        with self.lock:
            self.instances.clear()

    def snapshot(self) -> dict[str, Any]:
        """Everything, for the sandbox's state file (idempotency keys are not kept: they
        last an hour on Mastodon too)."""
        with self.lock:
            return {
                "instances": [
                    {
                        "host": i.host,
                        "max_characters": i.max_characters,
                        "statuses_per_window": i.statuses_per_window,
                        "statuses_window_s": i.statuses_window_s,
                        "apps": [asdict(a) for a in i.apps.values()],
                        "accounts": [asdict(a) for a in i.accounts.values()],
                        "tokens": [asdict(t) for t in i.tokens.values()],
                        "statuses": [asdict(s) for s in i.statuses.values()],
                    }
                    for i in self.instances.values()
                ],
                "last_id": int(self.next_id()),
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.reset()
            for raw in data.get("instances", []):
                instance = Instance(
                    raw["host"],
                    raw["max_characters"],
                    raw["statuses_per_window"],
                    raw["statuses_window_s"],
                )
                instance.apps = {a["client_id"]: App(**a) for a in raw.get("apps", [])}
                instance.accounts = {a["id"]: Account(**a) for a in raw.get("accounts", [])}
                instance.tokens = {t["token"]: Token(**t) for t in raw.get("tokens", [])}
                instance.statuses = {s["id"]: Status(**s) for s in raw.get("statuses", [])}
                for status in instance.statuses.values():
                    instance.count(status)
                self.instances[instance.host] = instance
            last = int(data.get("last_id", 0))
            self._ids = itertools.count(max(last + 1, int(time.time() * 1000) << 16))

    def next_id(self) -> str:
        return str(next(self._ids))

    def instance(self, host: str, **settings: Any) -> Instance:
        """The instance at ``host``, made on first use (any name is an instance here)."""
        host = host.lower()
        with self.lock:
            found = self.instances.get(host)
            if found is None:
                found = self.instances[host] = Instance(host)
            for name, value in settings.items():
                if value is None:
                    continue
                if name not in ("max_characters", "statuses_per_window", "statuses_window_s"):
                    raise ValueError(f"unknown instance setting {name!r}")
                number = int(value)
                if number <= 0:
                    raise ValueError(f"{name} must be > 0")
                setattr(found, name, number)
            return found

    def create_account(
        self, host: str, username: str, *, followers: int = 100, display_name: str | None = None
    ) -> tuple[Account, Token]:
        """An account with a token granting ``read write`` (as a token made under
        Preferences > Development would)."""
        name = username.strip().lstrip("@")
        if not re.fullmatch(r"[A-Za-z0-9_]{1,30}", name):
            raise ValueError("username must be 1-30 letters, digits or underscores")
        instance = self.instance(host)
        with self.lock:
            if instance.account_by_name(name) is not None:
                raise ValueError(f"@{name}@{instance.host} exists already")
            account = Account(self.next_id(), name, display_name or name, int(followers))
            instance.accounts[account.id] = account
            token = self.issue_token(instance, account.id, ["read", "write"], None)
            return account, token

    def issue_token(
        self, instance: Instance, account_id: str, scopes: list[str], client_id: str | None
    ) -> Token:
        token = Token(secrets.token_urlsafe(32), account_id, scopes, client_id)
        with self.lock:
            instance.tokens[token.token] = token
        return token

    def revoke(self, host: str, token: str) -> bool:
        with self.lock:
            instance = self.instances.get(host.lower())
            found = instance.tokens.get(token) if instance else None
            if found is None:
                return False
            found.revoked = True
            return True

    def post(
        self,
        instance: Instance,
        account_id: str,
        text: str,
        in_reply_to_id: str | None,
        key: str | None,
        application: str | None,
    ) -> tuple[Status, bool]:
        """A new status, or the one already made with ``key`` (and False)."""
        now = time.time()
        with self.lock:
            if key:
                kept = instance.idempotency.get((account_id, key))
                if kept is not None and now - kept[0] < IDEMPOTENCY_TTL_S:
                    return instance.statuses[kept[1]], False
            status = Status(
                self.next_id(), account_id, text, self.clock.time(), in_reply_to_id, application
            )
            instance.statuses[status.id] = status
            instance.count(status)
            if key:
                instance.idempotency[(account_id, key)] = (now, status.id)
            return status, True

    def statuses_of(self, instance: Instance, account_id: str) -> list[Status]:
        with self.lock:
            mine = [s for s in instance.statuses.values() if s.account_id == account_id]
        return sorted(mine, key=lambda s: int(s.id), reverse=True)

    # -- entities ------------------------------------------------------------------------

    def account_json(self, instance: Instance, account: Account) -> dict[str, Any]:
        count = instance.statuses_by_account.get(account.id, 0)
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.username,
            "display_name": account.display_name,
            "locked": False,
            "bot": account.bot,
            "created_at": "2024-01-01T00:00:00.000Z",
            "note": "",
            "url": f"{instance.base}/@{account.username}",
            "uri": f"{instance.base}/users/{account.username}",
            "avatar": f"{instance.base}/avatars/original/missing.png",
            "header": f"{instance.base}/headers/original/missing.png",
            "followers_count": account.followers,
            "following_count": 0,
            "statuses_count": count,
            "emojis": [],
            "fields": [],
        }

    def counts(self, instance: Instance, status: Status) -> dict[str, int]:
        """favourites, reblogs, replies: the sandbox's engagement curves (X's public ones,
        likes -> favourites, reposts -> boosts) plus real replies made here."""
        account = instance.accounts.get(status.account_id)
        simulated = engagement.metrics(
            "x",
            followers=account.followers if account else 0,
            age_seconds=self.clock.engagement_age(status.created_at),
            seed=self.seed,
            post_id=status.id,
        )
        replies = instance.replies_to.get(status.id, 0)
        return {
            "favourites_count": simulated.get("like_count", 0),
            "reblogs_count": simulated.get("retweet_count", 0),
            "replies_count": simulated.get("reply_count", 0) + replies,
        }

    def status_json(self, instance: Instance, status: Status) -> dict[str, Any]:
        account = instance.accounts[status.account_id]
        parent = instance.statuses.get(status.in_reply_to_id or "")
        return {
            "id": status.id,
            "created_at": iso(status.created_at),
            "edited_at": None,
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": parent.account_id if parent else None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "en",
            "uri": f"{instance.base}/users/{account.username}/statuses/{status.id}",
            "url": f"{instance.base}/@{account.username}/{status.id}",
            **self.counts(instance, status),
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": render(status.text),
            "reblog": None,
            "application": {"name": status.application, "website": None}
            if status.application
            else None,
            "account": self.account_json(instance, account),
            "media_attachments": [],
            "mentions": [],
            "tags": [],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def timeline(self) -> list[dict[str, Any]]:
        """Every account on every instance with its statuses, for the timeline page."""
        out: list[dict[str, Any]] = []
        with self.lock:
            instances = list(self.instances.values())
        for instance in instances:
            for account in list(instance.accounts.values()):
                posts = []
                for status in self.statuses_of(instance, account.id):
                    entity = self.status_json(instance, status)
                    posts.append(
                        {
                            "id": status.id,
                            "text": status.text,
                            "created_at": entity["created_at"],
                            "url": entity["url"],
                            "reply_to": status.in_reply_to_id,
                            "metrics": {
                                k: entity[k]
                                for k in ("favourites_count", "reblogs_count", "replies_count")
                            },
                        }
                    )
                out.append(
                    {
                        "platform": "mastodon",
                        "id": account.id,
                        "name": f"@{account.username}@{instance.host}",
                        "followers": account.followers,
                        "posts": posts,
                    }
                )
        return out
