"""An in-memory platform for unit tests: it keeps posts, and fails on cue.

Tests script what the next calls do (``fail_next``) and then assert on what the fake
recorded, never on call trees.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from datetime import UTC, datetime

from bot.platforms.base import (
    AccountInfo,
    Credentials,
    Limits,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    Published,
)


class FakePlatform:
    def __init__(self, name: str = "x", *, supports_threads: bool = True) -> None:
        self.name = name
        self.limits = Limits(
            max_length=280, weighted_length=False, supports_threads=supports_threads
        )
        self.posts: list[dict[str, object]] = []
        self.calls: list[str] = []
        self._script: list[PlatformError | str] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.valid_tokens: set[str] | None = None

    def fail_next(self, *outcomes: PlatformError | str) -> None:
        """Queue outcomes for the next publish calls: an error to raise, or
        ``"accept_then_lose"`` (the post is created, then OutcomeUnknown is raised)."""
        self._script.extend(outcomes)

    def posts_by(self, user_id: str) -> list[dict[str, object]]:
        return [p for p in self.posts if p["user"] == user_id]

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        with self._lock:
            self.calls.append(f"publish:{text}")
            outcome = self._script.pop(0) if self._script else None
            if isinstance(outcome, PlatformError):
                raise outcome
            if reply_to is not None and not any(p["id"] == reply_to for p in self.posts):
                raise PermanentError("reply target does not exist")
            body = text if not link or link in text else f"{text}\n\n{link}"
            post_id = str(next(self._ids))
            self.posts.append(
                {
                    "id": post_id,
                    "user": creds.platform_user_id,
                    "text": body,
                    "reply_to": reply_to,
                    "publish_at": publish_at,
                    "created_at": datetime.now(UTC),
                }
            )
            if outcome == "accept_then_lose":
                raise OutcomeUnknown("connection dropped after the request was sent")
            return Published(post_id, f"https://example.test/{post_id}", body)

    def find_recent(
        self, creds: Credentials, text: str, since: datetime, *, link: str | None = None
    ) -> Published | None:
        if link and link not in text:
            text = f"{text}\n\n{link}"  # as publish sends it
        with self._lock:
            self.calls.append(f"find:{text}")
            for post in reversed(self.posts):
                created = post["created_at"]
                assert isinstance(created, datetime)
                if (
                    post["user"] == creds.platform_user_id
                    and created >= since
                    and post["text"] == text
                ):
                    return Published(
                        str(post["id"]), f"https://example.test/{post['id']}", str(post["text"])
                    )
            return None

    def verify(self, creds: Credentials) -> AccountInfo:
        return AccountInfo(creds.platform_user_id, f"user{creds.platform_user_id}", "User", 10)


class FakeAsyncPlatform(FakePlatform):
    """A FakePlatform with the burst path (``async_publisher``), so the dispatcher sends
    its plain single posts on asyncio; they land in the same ``posts`` and follow the
    same ``fail_next`` script."""

    def async_publisher(self, session: object) -> FakeAsyncPublisher:
        return FakeAsyncPublisher(self)


class FakeAsyncPublisher:
    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        idempotency_key: str | None = None,
    ) -> Published:
        await asyncio.sleep(0)  # a real publisher yields to the loop while it waits
        return self.platform.publish(creds, text, link=link)
