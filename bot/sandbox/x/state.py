"""In-memory X world: users, their OAuth tokens, posts, pending 3-legged authorisations."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import twitter_text

# X's snowflake epoch (ms): ids are (ms since epoch) << 22 | sequence, so they increase
# with time, as X's ids do.
TWEPOCH_MS = 1288834974657
_ALNUM = string.ascii_letters + string.digits


class Clock(Protocol):
    def time(self) -> float: ...


@dataclass
class XUser:
    id: str
    username: str
    name: str
    followers: int
    created_at: float


@dataclass
class XToken:
    token: str
    secret: str = field(repr=False)
    user_id: str
    revoked: bool = False


@dataclass
class Tweet:
    id: str
    author_id: str
    text: str
    created_at: float  # protocol time (bot.sandbox.clock): real seconds plus advances
    reply_to: str | None = None
    conversation_id: str = ""
    media_ids: list[str] = field(default_factory=list)
    deleted: bool = False
    shown: str = ""  # the text as X's API returns it (t.co links, HTML entities)

    def __post_init__(self) -> None:
        if not self.shown:
            self.shown = shown_text(self.text, self.id)


@dataclass
class RequestToken:
    """A pending 3-legged authorisation (POST /oauth/request_token)."""

    token: str
    secret: str = field(repr=False)
    callback: str
    verifier: str | None = None
    user_id: str | None = None
    denied: bool = False
    used: bool = False


class XState:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()  # admin calls may come from another thread in tests
        self.reset()

    def reset(self) -> None:
        self.users: dict[str, XUser] = {}
        self.usernames: dict[str, str] = {}  # lower-case handle -> id
        self.tokens: dict[str, XToken] = {}
        self.tweets: dict[str, Tweet] = {}
        self.timelines: dict[str, list[str]] = {}  # user id -> tweet ids, oldest first
        self.latest_by_text: dict[tuple[str, str], str] = {}  # (author, text) -> tweet id
        self.request_tokens: dict[str, RequestToken] = {}
        self.posts_this_month: dict[str, int] = {}  # "YYYY-MM" -> posts created by the app
        self._last_id = 0

    # ids -----------------------------------------------------------------------------
    def next_id(self) -> str:
        candidate = (int(self.clock.time() * 1000) - TWEPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return str(self._last_id)

    # users and tokens ----------------------------------------------------------------
    def create_user(self, handle: str, followers: int = 100, name: str | None = None) -> XUser:
        handle = handle.lstrip("@")
        if not handle or len(handle) > 15 or not all(c in _ALNUM + "_" for c in handle):
            raise ValueError(f"@{handle} is not a valid handle: use 1-15 letters, digits or _")
        if followers < 0:
            raise ValueError("followers must be >= 0")
        with self.lock:
            if handle.lower() in self.usernames:
                raise ValueError(f"handle @{handle} is taken")
            user = XUser(self.next_id(), handle, name or handle, followers, self.clock.time())
            self.users[user.id] = user
            self.usernames[handle.lower()] = user.id
            self.timelines[user.id] = []
            return user

    def user_by_handle(self, handle: str) -> XUser | None:
        user_id = self.usernames.get(handle.lstrip("@").lower())
        return self.users.get(user_id) if user_id else None

    def issue_token(self, user_id: str) -> XToken:
        """A new access token; X's look like '<user id>-<random>'."""
        with self.lock:
            if user_id not in self.users:
                raise KeyError(user_id)
            token = XToken(f"{user_id}-{random_token(40)}", random_token(45), user_id)
            self.tokens[token.token] = token
            return token

    def active_token(self, user_id: str) -> XToken:
        for token in reversed(list(self.tokens.values())):
            if token.user_id == user_id and not token.revoked:
                return token
        return self.issue_token(user_id)

    def revoke(self, token: str) -> bool:
        found = self.tokens.get(token)
        if found is None:
            return False
        found.revoked = True
        return True

    def user_for_token(self, token: str) -> tuple[XUser, XToken] | None:
        found = self.tokens.get(token)
        if found is None or found.revoked:
            return None
        return self.users[found.user_id], found

    # tweets --------------------------------------------------------------------------
    def duplicate_of(self, author_id: str, text: str, window_s: float) -> Tweet | None:
        tweet_id = self.latest_by_text.get((author_id, text))
        if tweet_id is None:
            return None
        tweet = self.tweets[tweet_id]
        if tweet.deleted or self.clock.time() - tweet.created_at > window_s:
            return None
        return tweet

    def create_tweet(
        self,
        author_id: str,
        text: str,
        reply_to: Tweet | None = None,
        media_ids: list[str] | None = None,
    ) -> Tweet:
        with self.lock:
            tweet_id = self.next_id()
            conversation = reply_to.conversation_id if reply_to else tweet_id
            tweet = Tweet(
                tweet_id,
                author_id,
                text,
                self.clock.time(),
                reply_to.id if reply_to else None,
                conversation,
                list(media_ids or []),
            )
            self.tweets[tweet_id] = tweet
            self.timelines.setdefault(author_id, []).append(tweet_id)
            self.latest_by_text[(author_id, text)] = tweet_id
            return tweet

    def live_tweet(self, tweet_id: str) -> Tweet | None:
        tweet = self.tweets.get(tweet_id)
        return None if tweet is None or tweet.deleted else tweet

    def delete_tweet(self, tweet_id: str) -> None:
        tweet = self.tweets[tweet_id]
        tweet.deleted = True

    def timeline(self, user_id: str, include_deleted: bool = False) -> list[Tweet]:
        """Newest first."""
        ids = self.timelines.get(user_id, [])
        tweets = (self.tweets[i] for i in reversed(ids))
        return [t for t in tweets if include_deleted or not t.deleted]

    # persistence ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "users": [asdict(u) for u in self.users.values()],
                "tokens": [asdict(t) for t in self.tokens.values()],
                "tweets": [asdict(t) for t in self.tweets.values()],
                "posts_this_month": dict(self.posts_this_month),
                "last_id": self._last_id,
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self.lock:
            self.reset()
            for raw in data.get("users", []):
                user = XUser(**raw)
                self.users[user.id] = user
                self.usernames[user.username.lower()] = user.id
                self.timelines[user.id] = []
            for raw in data.get("tokens", []):
                token = XToken(**raw)
                self.tokens[token.token] = token
            for raw in sorted(data.get("tweets", []), key=lambda t: int(t["id"])):
                tweet = Tweet(**raw)
                self.tweets[tweet.id] = tweet
                self.timelines.setdefault(tweet.author_id, []).append(tweet.id)
                self.latest_by_text[(tweet.author_id, tweet.text)] = tweet.id
            self.posts_this_month = dict(data.get("posts_this_month", {}))
            self._last_id = int(data.get("last_id", 0))


MAYBE_URL = re.compile(r"[^\W_]\.[^\W\d_]{2,}").search
_HTML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def shown_text(text: str, salt: str) -> str:
    """The text as X returns it: each URL wrapped in a t.co link, and &, < and >
    as HTML entities (as in the recorded lookups in /work/shared/contracts/x/).

    URL extraction is twitter-text's (the same rules X counts length with); it costs
    ~0.3 ms, so text with nothing like a domain (a letter-led TLD right after a dot)
    skips it.
    """
    urls = twitter_text.extract_urls_with_indices(text) if MAYBE_URL(text) else []
    parts: list[str] = []
    position = 0
    for found in urls:
        start, end = found["indices"]
        parts.append(text[position:start].translate(_HTML_ESCAPES))
        parts.append(_tco(found["url"], salt))
        position = end
    parts.append(text[position:].translate(_HTML_ESCAPES))
    return "".join(parts)


def _tco(url: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{url}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    code = []
    for _ in range(10):
        number, digit = divmod(number, len(_ALNUM))
        code.append(_ALNUM[digit])
    return "https://t.co/" + "".join(code)


def random_token(length: int) -> str:
    """Letters and digits, as X's tokens are: for the sandbox's tokens and keys."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))
