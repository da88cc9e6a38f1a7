"""The contract every platform adapter keeps.

An adapter makes exactly one attempt per call and classifies every failure once,
into one of the error classes below. Retries, backoff, rate-limit waits and the
delivery ledger live in ``bot.delivery.deliverer``; adapters never sleep or retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class PlatformError(Exception):
    """Base class: a platform call did not succeed.

    ``message`` is safe to show and store: adapters must never put tokens in it.
    ``code`` is the platform's own error code or HTTP status, for the record.
    """

    kind = "error"

    def __init__(self, message: str, *, code: str | int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class TransientError(PlatformError):
    """Try again later: 5xx, timeouts before sending, rate limits, unknown errors.

    ``retry_after`` is seconds to wait when the platform said so (X's
    ``x-rate-limit-reset``, Graph's rate-limit codes); None means "use backoff".
    ``rate_limited`` marks a rate limit: the wait is not counted as a failed attempt.
    ``not_sent`` marks a failure before the request reached the platform (refused, DNS,
    connect timeout): nothing happened there, so an outage is waited out, not counted.
    """

    kind = "transient"

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = None,
        retry_after: float | None = None,
        rate_limited: bool = False,
        maybe_sent: bool = False,
        not_sent: bool = False,
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        self.not_sent = not_sent
        # A 5xx (or Graph's "unexpected error") to a request that creates a post says
        # nothing about whether the post was created: retry only after looking for it.
        self.maybe_sent = maybe_sent


class AuthError(PlatformError):
    """The account's token is invalid or revoked: it needs reconnecting. No retry."""

    kind = "auth"


class PermanentError(PlatformError):
    """This post can never go as it is (invalid, duplicate, policy block). No retry.

    ``duplicate`` marks the platform's "same text again" refusal: after an attempt of ours
    whose outcome was unknown, it means our own post is already there.
    """

    kind = "permanent"

    def __init__(
        self, message: str, *, code: str | int | None = None, duplicate: bool = False
    ) -> None:
        super().__init__(message, code=code)
        self.duplicate = duplicate


class OutcomeUnknown(PlatformError):
    """The request was sent but no answer came back (timeout, reset, lost response).

    The post may exist. The ledger marks the delivery ``unknown`` and reconciles it
    by looking for the text on the account before sending anything again.
    """

    kind = "unknown"


@dataclass(frozen=True)
class Limits:
    """A platform's rules, declared as data (cf. apprise's ``body_maxlen``)."""

    max_length: int
    weighted_length: bool  # X counts URLs as 23 and emoji/CJK as 2
    supports_threads: bool
    posts_per_window_per_user: int | None = None
    window_seconds: int | None = None
    # The client names each record (Bluesky's record keys): the ledger hands the
    # delivery's ``record_key`` to ``publish`` and ``find_recent``.
    client_record_keys: bool = False


# A post needs one request (createRecord, POST /api/v1/statuses); some also need a session
# refresh or a reconciling read: 1.1 requests a post against a network's request budget,
# kept as tenths so that 6,000 posts come to exactly 6,600 requests.
REQUESTS_PER_POST_TENTHS = 11


@dataclass(frozen=True)
class Credentials:
    """What an adapter needs to act as one account. Never logged or printed.

    X: ``token`` and ``secret`` are the user's OAuth 1.0a access token and secret.
    Facebook: ``token`` is the Page access token, ``secret`` is unused.
    Mastodon: ``token`` is the user's OAuth 2 access token, ``server`` the base URL of the
    account's instance (``https://social.example``): every instance is its own API.
    ``platform_user_id`` is the X user id, the Facebook Page id or the Mastodon account id.
    """

    token: str = field(repr=False)
    secret: str = field(default="", repr=False)
    platform_user_id: str = ""
    server: str = ""

    def __str__(self) -> str:
        return f"Credentials(platform_user_id={self.platform_user_id!r}, token=***)"


@dataclass(frozen=True)
class Published:
    """A post that exists on the platform."""

    platform_id: str
    url: str
    text: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True)
class AccountInfo:
    """Who a token belongs to, as the platform reports it."""

    platform_user_id: str
    handle: str
    name: str
    followers: int | None = None


class Platform(Protocol):
    """One package per platform implements this in its ``adapter`` (bot/platforms/x/,
    bot/platforms/facebook/; docs/adding-a-platform.md)."""

    name: str
    limits: Limits

    def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        reply_to: str | None = None,
        link: str | None = None,
        publish_at: datetime | None = None,
        record_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        """Create one post. ``reply_to`` chains a thread part to the previous one.

        ``record_key`` is given only to platforms whose ``limits.client_record_keys`` is
        set: the key the post is created under, the same on every attempt.

        ``publish_at`` asks the platform itself to hold the post (Facebook's
        ``published=false`` + ``scheduled_publish_time``); adapters that cannot,
        raise PermanentError. ``idempotency_key`` is the same on every attempt at one
        part of one delivery (``Job.idempotency_key``): a platform that honours one
        (Mastodon's ``Idempotency-Key``) answers a repeat with the post already made;
        the others ignore it.
        """
        ...

    def find_recent(
        self,
        creds: Credentials,
        text: str,
        since: datetime,
        *,
        link: str | None = None,
        record_key: str | None = None,
    ) -> Published | None:
        """Look on the account for a post with exactly the text ``publish`` would send for
        (``text``, ``link``), created at or after ``since``: how an ``unknown`` delivery
        is reconciled. With ``record_key`` (``limits.client_record_keys``), read that one
        record instead of searching."""
        ...

    def verify(self, creds: Credentials) -> AccountInfo:
        """Check the token works and say whose it is (with follower count)."""
        ...


class AsyncPublisher(Protocol):
    """Single posts on asyncio, bound to one event loop's HTTP session: how the dispatcher
    sends a burst (a pledge release) without a thread per request. One attempt per call,
    built and read by the same platform ``rules`` as ``Platform.publish``, so the request
    and its classification are the same."""

    async def publish(
        self,
        creds: Credentials,
        text: str,
        *,
        link: str | None,
        record_key: str | None = None,
        idempotency_key: str | None = None,
    ) -> Published:
        """Create one post (not a thread part, not held by the platform); ``record_key``
        only for platforms with ``limits.client_record_keys``; ``idempotency_key`` as for
        ``Platform.publish``."""
        ...


# A look for an unknown outcome reads the account's posts back to the first attempt, page
# by page, and stops as soon as all it wants is found or the posts run out. An account
# that posted more than this many pages since then (thousands of posts) cannot be read to
# the end: the look then says so (``look_ran_out``) rather than answer "not there", which
# would resend a post that may be further back.
LOOK_MAX_PAGES = 50


def look_ran_out(action: str, pages: int) -> TransientError:
    """The failure of a look that read ``pages`` pages without reaching the first attempt:
    the post is not proven absent, so it is not resent; the look is tried again later."""
    return TransientError(
        f"{action}: read {pages} pages of the account's posts without reaching the time of "
        "the first attempt; not proven absent, so not resent — looking again later"
    )


@dataclass(frozen=True)
class Wanted:
    """One post looked for when reconciling: the text and link ``publish`` was given, and
    the earliest time it can have been created (our first attempt, less clock skew)."""

    text: str
    link: str | None
    since: datetime


@runtime_checkable
class AsyncReconciler(Protocol):
    """Looks for posts whose outcome is unknown on asyncio, several for one account in one
    read: how the dispatcher settles a crash's unknown outcomes in batches. Read and
    matched by the same platform ``rules`` as ``Platform.find_recent``."""

    async def find_recent_many(
        self, creds: Credentials, wanted: Sequence[Wanted]
    ) -> list[Published | None]:
        """For each of ``wanted`` (in order), the account's post that matches it, or None.
        A post matches one wanted item at most."""
        ...


def assign_matches(
    wanted: Sequence[tuple[str, datetime]], candidates: Iterable[tuple[str, Published]]
) -> list[Published | None]:
    """Pair each wanted (form, since) with a distinct candidate (form, post) of the same
    form created at or after ``since`` (a post of unknown time matches), in the order the
    candidates come (newest first, as the platforms list them)."""
    found: list[Published | None] = [None] * len(wanted)
    open_by_form: dict[str, list[int]] = {}
    for index, (form, _) in enumerate(wanted):
        open_by_form.setdefault(form, []).append(index)
    for form, post in candidates:
        waiting = open_by_form.get(form)
        if not waiting:
            continue
        for position, index in enumerate(waiting):
            since = wanted[index][1]
            if post.created_at is None or post.created_at >= since:
                found[index] = post
                del waiting[position]
                break
    return found


# Engagement metrics under one name on every platform (reports add them up across
# platforms): X like_count / Facebook reactions are "likes", retweets / shares "reposts",
# replies / comments "replies", impressions / post_media_view "views".
METRIC_NAMES = (
    "likes",
    "reposts",
    "replies",
    "quotes",
    "bookmarks",
    "views",
    "link_clicks",
    "profile_clicks",
)


@dataclass(frozen=True)
class MetricsReading:
    """One post's engagement as the platform reported it at one moment.

    ``values`` maps a name in METRIC_NAMES to a count, or to None when the platform did
    not give it (retired metric, no permission, past X's 30-day window): unavailable is
    never written as 0. ``sources`` says where each value came from (e.g.
    ``x.public_metrics``). ``deleted``: the platform says the post no longer exists.
    """

    platform_id: str
    values: dict[str, int | None] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    deleted: bool = False
