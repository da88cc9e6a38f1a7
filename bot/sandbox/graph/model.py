"""The records the Graph sandbox keeps: people, Pages, posts, tokens, login codes.

Times are Unix seconds in the sandbox's *protocol* time (real time plus the admin API's
advances, never accelerated: see bot.sandbox.clock), so a login code's 10 minutes and a
token's 60 days are what a real client sees; only engagement ages faster.
Every record converts to and from plain JSON-able dicts for snapshots.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

# What a Page admin can do, as /me/accounts lists it for a full admin.
ADMIN_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]
# Permissions an app needs to post to a Page and read its engagement
# (https://developers.facebook.com/docs/pages-api/posts).
PAGE_SCOPES = ["pages_show_list", "pages_read_engagement", "pages_manage_posts", "public_profile"]

SHORT_LIVED_SECONDS = 2 * 3600  # user tokens from the login dialog: "an hour or two"
LONG_LIVED_SECONDS = 5_183_944  # what Graph answers for fb_exchange_token: about 60 days
CODE_LIFETIME_SECONDS = 600  # login codes are short-lived and single use


@dataclass
class FbUser:
    id: str
    name: str


@dataclass
class FbPage:
    id: str
    name: str
    followers: int
    category: str = "Community"
    admins: list[str] = field(default_factory=list)
    blocked_until: float | None = None  # code 368 while protocol time is before this


@dataclass
class FbPost:
    id: str  # "{page-id}_{post-id}", as Graph returns it
    page_id: str
    message: str
    link: str | None
    requested_at: float  # when the POST arrived
    created_time: float  # when it is (or will be) public: the schedule for scheduled posts
    published: bool  # False for unpublished ("dark") and not-yet-due scheduled posts
    scheduled: bool = False

    def visible_at(self, now: float) -> bool:
        """Listed on the Page's feed at this moment."""
        if self.scheduled:
            return self.created_time <= now
        return self.published

    def is_published(self, now: float) -> bool:
        return self.visible_at(now)

    @property
    def permalink(self) -> str:
        page_id, _, post_id = self.id.partition("_")
        return f"https://www.facebook.com/{page_id}/posts/{post_id}"


@dataclass
class Token:
    value: str
    kind: str  # "user" | "page" | "app"
    user_id: str | None  # the person; for a Page token, the admin who obtained it
    page_id: str | None = None
    scopes: list[str] = field(default_factory=list)
    issued_at: float = 0.0
    expires_at: float | None = None  # None: never expires (Page tokens from long-lived ones)
    long_lived: bool = False
    revoked: str | None = None  # a graph_errors.REVOKE_REASONS entry once revoked

    @property
    def subject_id(self) -> str | None:
        """The node ``me`` means for this token."""
        return self.page_id if self.kind == "page" else self.user_id


@dataclass
class LoginCode:
    value: str
    user_id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    issued_at: float
    used: bool = False


R = TypeVar("R")


def to_dict(record: Any) -> dict[str, Any]:
    return asdict(record)


def from_dict(cls: type[R], data: dict[str, Any]) -> R:
    """Build a record, ignoring keys a newer or older snapshot may carry."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def graph_time(ts: float) -> str:
    """Graph's timestamp format: ``2026-11-22T10:00:00+0000``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
