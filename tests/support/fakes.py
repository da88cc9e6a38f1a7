"""An in-memory platform for unit tests: it keeps posts, and fails on cue.

Tests script what the next calls do (``fail_next``) and then assert on what the fake
recorded, never on call trees.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.platforms.base import (
    AccountInfo,
    Credentials,
    Limits,
    OutcomeUnknown,
    PermanentError,
    PlatformError,
    Published,
    Wanted,
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
        self._find_script: list[PlatformError] = []
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        self.valid_tokens: set[str] | None = None

    def fail_next(self, *outcomes: PlatformError | str) -> None:
        """Queue outcomes for the next publish calls: an error to raise, or
        ``"accept_then_lose"`` (the post is created, then OutcomeUnknown is raised)."""
        self._script.extend(outcomes)

    def fail_next_find(self, *errors: PlatformError) -> None:
        """Queue errors for the next ``find_recent`` calls (a look that fails)."""
        self._find_script.extend(errors)

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
            if self._find_script:
                raise self._find_script.pop(0)
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
    same ``fail_next`` script. ``hold``: seconds each async answer takes (a platform's
    latency, so sends stay in flight)."""

    def __init__(self, name: str = "x", *, hold: float = 0.0, **kwargs: bool) -> None:
        super().__init__(name, **kwargs)
        self.hold = hold

    def async_publisher(self, session: object) -> FakeAsyncPublisher:
        return FakeAsyncPublisher(self)

    def find_many(self, creds: Credentials, wanted: Sequence[Wanted]) -> list[Published | None]:
        """One read of the account's posts that answers for every wanted post (recorded
        in ``calls`` as ``find_many:<how many>``)."""
        with self._lock:
            self.calls.append(f"find_many:{len(wanted)}")
            taken: set[object] = set()
            found: list[Published | None] = []
            for item in wanted:
                text = item.text
                if item.link and item.link not in text:
                    text = f"{text}\n\n{item.link}"  # as publish sends it
                match = None
                for post in reversed(self.posts):
                    created = post["created_at"]
                    assert isinstance(created, datetime)
                    if (
                        post["id"] not in taken
                        and post["user"] == creds.platform_user_id
                        and created >= item.since
                        and post["text"] == text
                    ):
                        match = Published(
                            str(post["id"]), f"https://example.test/{post['id']}", text
                        )
                        taken.add(post["id"])
                        break
                found.append(match)
            return found


class FakeAsyncPublisher:
    def __init__(self, platform: FakeAsyncPlatform) -> None:
        self.platform = platform

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        record_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        await asyncio.sleep(self.platform.hold)  # a real publisher yields while it waits
        return self.platform.publish(creds, text, link=link)

    async def find_recent_many(
        self, creds: Credentials, wanted: Sequence[Wanted]
    ) -> list[Published | None]:
        await asyncio.sleep(self.platform.hold)
        return self.platform.find_many(creds, wanted)
