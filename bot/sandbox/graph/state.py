"""In-memory Facebook for the sandbox: people, the Pages they run, posts, tokens.

Only Pages can be posted to by an app (personal profiles lost ``publish_actions`` in
2018), so the model is: a *user* (a person who logged in with Facebook) administers
*Pages*; the app holds user tokens (short-lived from the login dialog, long-lived after
``fb_exchange_token``) and Page tokens (from ``/me/accounts``), and posts with the Page
token. Revoking a user's token (the person removed the app, or changed their password)
kills the Page tokens obtained through it too, as on Facebook.

Options read from S1's ``SandboxOptions`` (each optional, defaults in brackets):
``seed`` [1], ``fb_app_id`` ["100000000000001"], ``fb_app_secret`` ["sandbox-fb-app-secret"],
``fb_require_appsecret_proof`` [False],
``duplicate_window_s`` [86400], ``fb_min_version`` [19], ``fb_latest_version``
["v26.0"] and the ``fb_*`` limits of :mod:`bot.sandbox.graph.limits`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.sandbox import engagement
from bot.sandbox.graph import errors as errors
from bot.sandbox.graph.limits import Counters, GraphLimits, check_post
from bot.sandbox.graph.model import (
    ADMIN_TASKS,
    FbPage,
    FbPost,
    FbUser,
    LoginCode,
    Token,
    from_dict,
    graph_time,
    iso_time,
    to_dict,
)
from bot.sandbox.graph.tokens import TokensMixin

logger = logging.getLogger(__name__)

MAX_MESSAGE_LENGTH = 63_206  # Facebook's limit on a post's text
# Graph docs (pages-api/posts): a scheduled post must be 10 minutes to 30 days ahead.
SCHEDULE_MIN_SECONDS = 10 * 60
SCHEDULE_MAX_SECONDS = 30 * 24 * 3600

# Numeric id spaces that look like Facebook's (15-digit people, 14-digit Pages, 18-digit posts).
_USER_BASE = 100_000_000_000_000
_PAGE_BASE = 61_550_000_000_000
_POST_BASE = 122_100_000_000_000_000


def _option(options: Any, name: str, default: Any) -> Any:
    value = getattr(options, name, None)
    return default if value is None else value


class GraphState(TokensMixin):
    """All Facebook-side state of one sandbox. Safe to call from several threads."""

    def __init__(self, options: Any, clock: Any) -> None:
        self.options = options
        self.clock = clock
        self.app_id = str(_option(options, "fb_app_id", "100000000000001"))
        self.app_secret = str(_option(options, "fb_app_secret", "sandbox-fb-app-secret"))
        self.require_appsecret_proof = bool(_option(options, "fb_require_appsecret_proof", False))
        self.seed = int(_option(options, "seed", 1))
        self.duplicate_window = float(_option(options, "duplicate_window_s", 86_400))
        self.min_version = int(_option(options, "fb_min_version", 19))
        self.latest_version = str(_option(options, "fb_latest_version", "v26.0"))
        self.limits = GraphLimits.from_options(options)
        self.counters = Counters()
        self._lock = threading.RLock()
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.users: dict[str, FbUser] = {}
            self.pages: dict[str, FbPage] = {}
            self.posts: dict[str, FbPost] = {}
            # Post ids per Page, so feeds and duplicate checks cost one Page, not all posts.
            self._by_page: dict[str, list[str]] = {}
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, LoginCode] = {}
            self._next = {"user": 1, "page": 1, "post": 1}
            # Insights metrics retired at run time (graph_admin POST /insights), on top of
            # graph_fields.DEPRECATED_POST_METRICS: rehearses Graph dropping a metric.
            self.retired_metrics: set[str] = set()
            self.counters.reset()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "version": 1,
                "users": [to_dict(u) for u in self.users.values()],
                "pages": [to_dict(p) for p in self.pages.values()],
                "posts": [to_dict(p) for p in self.posts.values()],
                "tokens": [to_dict(t) for t in self.tokens.values()],
                "codes": [to_dict(c) for c in self.codes.values()],
                "next": dict(self._next),
            }

    def restore(self, data: dict[str, Any]) -> None:
        with self._lock:
            self.reset()
            for raw in data.get("users", []):
                user = from_dict(FbUser, raw)
                self.users[user.id] = user
            for raw in data.get("pages", []):
                page = from_dict(FbPage, raw)
                self.pages[page.id] = page
            for raw in data.get("posts", []):
                post = from_dict(FbPost, raw)
                self.posts[post.id] = post
                self._by_page.setdefault(post.page_id, []).append(post.id)
            for raw in data.get("tokens", []):
                token = from_dict(Token, raw)
                self.tokens[token.value] = token
            for raw in data.get("codes", []):
                code = from_dict(LoginCode, raw)
                self.codes[code.value] = code
            self._next.update(data.get("next", {}))

    def now(self) -> float:
        """Protocol time, Unix seconds: real time plus the admin API's advances."""
        return float(self.clock.now().timestamp())

    def seed_posts(self, page_id: str, messages: list[str], created: float) -> list[str]:
        """Published posts on a Page created at ``created``, straight into the state, without
        the checks a real POST runs (for bulk seeding: bot/sandbox/seed.py). Their ids."""
        ids = []
        with self._lock:
            for message in messages:
                post = FbPost(
                    id=f"{page_id}_{self._new_id('post')}",
                    page_id=page_id,
                    message=message,
                    link=None,
                    requested_at=created,
                    created_time=created,
                    published=True,
                )
                self.posts[post.id] = post
                self._by_page.setdefault(page_id, []).append(post.id)
                ids.append(post.id)
        return ids

    def _new_id(self, kind: str) -> str:
        n = self._next[kind]
        self._next[kind] = n + 1
        base = {"user": _USER_BASE, "page": _PAGE_BASE, "post": _POST_BASE}[kind]
        return str(base + n)

    # --- people and Pages --------------------------------------------------------------

    def create_user(self, name: str) -> FbUser:
        name = name.strip()
        if not name:
            raise ValueError("a Facebook user needs a name")
        with self._lock:
            user = FbUser(id=self._new_id("user"), name=name)
            self.users[user.id] = user
            logger.info("sandbox facebook user %s created (%s)", user.id, name)
            return user

    def create_page(
        self,
        name: str,
        *,
        followers: int = 100,
        user_id: str | None = None,
        category: str = "Community",
    ) -> FbPage:
        """A Page administered by ``user_id`` (a new person named after the Page if None)."""
        name = name.strip()
        if not name:
            raise ValueError("a Page needs a name")
        if followers < 0:
            raise ValueError("followers must be >= 0")
        with self._lock:
            if user_id is None:
                user_id = self.create_user(f"{name} admin").id
            elif user_id not in self.users:
                raise KeyError(user_id)
            page = FbPage(
                id=self._new_id("page"),
                name=name,
                followers=followers,
                category=category,
                admins=[user_id],
            )
            self.pages[page.id] = page
            logger.info("sandbox facebook page %s created (%s)", page.id, name)
            return page

    def pages_of(self, user_id: str) -> list[FbPage]:
        with self._lock:
            return [p for p in self.pages.values() if user_id in p.admins]

    def block_page(self, page_id: str, seconds: float) -> None:
        """Posts from this Page get code 368 for ``seconds`` (protocol time)."""
        with self._lock:
            self.pages[page_id].blocked_until = self.now() + seconds if seconds > 0 else None

    # --- posts -------------------------------------------------------------------------

    def publish(
        self,
        page_id: str,
        *,
        message: str,
        link: str | None = None,
        published: bool = True,
        scheduled_publish_time: float | None = None,
    ) -> FbPost:
        """Create a feed post on a Page (the caller has checked the Page token)."""
        with self._lock:
            page = self.pages[page_id]
            now = self.now()
            if not message and not link:
                raise errors.bad_parameter("Missing message or attachment")
            if len(message) > MAX_MESSAGE_LENGTH:
                # Limit documented; exact wording not recorded.
                raise errors.bad_parameter(
                    f"Param message must be at most {MAX_MESSAGE_LENGTH} characters long"
                )
            if link is not None and not link.startswith(("http://", "https://")):
                raise errors.bad_parameter("Param link must be a valid URL")
            scheduled = scheduled_publish_time is not None
            if scheduled:
                if published:
                    raise errors.bad_parameter(
                        "You cannot specify a scheduled publish time on a published post"
                    )
                assert scheduled_publish_time is not None
                ahead = scheduled_publish_time - now
                if not SCHEDULE_MIN_SECONDS <= ahead <= SCHEDULE_MAX_SECONDS:
                    raise errors.bad_parameter("The specified scheduled publish time is invalid.")
            if page.blocked_until is not None and now < page.blocked_until:
                raise errors.blocked()
            for other in self._page_posts(page_id):
                if (
                    other.message == message
                    and other.link == link
                    and now - other.requested_at < self.duplicate_window
                ):
                    raise errors.duplicate()
            check_post(self.counters, self.limits, page_id=page_id, wall=float(self.clock.wall()))
            post = FbPost(
                id=f"{page_id}_{self._new_id('post')}",
                page_id=page_id,
                message=message,
                link=link,
                requested_at=now,
                created_time=scheduled_publish_time if scheduled else now,  # type: ignore[arg-type]
                published=published,
                scheduled=scheduled,
            )
            self.posts[post.id] = post
            self._by_page.setdefault(page_id, []).append(post.id)
            logger.info("sandbox facebook post %s on page %s", post.id, page_id)
            return post

    def get_post(self, post_id: str) -> FbPost | None:
        with self._lock:
            return self.posts.get(post_id)

    def delete_post(self, post_id: str) -> bool:
        with self._lock:
            post = self.posts.pop(post_id, None)
            if post is None:
                return False
            self._by_page[post.page_id].remove(post_id)
            return True

    def _page_posts(self, page_id: str) -> list[FbPost]:
        return [self.posts[i] for i in self._by_page.get(page_id, [])]

    def feed(
        self,
        page_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        scheduled: bool = False,
    ) -> list[FbPost]:
        """Visible posts of a Page, newest first (ties: newest id first).

        With ``scheduled=True``: the posts Facebook still holds for a later time instead.
        """
        with self._lock:
            now = self.now()
            posts = [
                p
                for p in self._page_posts(page_id)
                if ((p.scheduled and not p.visible_at(now)) if scheduled else p.visible_at(now))
                and (since is None or p.created_time >= since)
                and (until is None or p.created_time <= until)
            ]
        posts.sort(key=lambda p: (p.created_time, int(p.id.partition("_")[2])), reverse=True)
        return posts

    def engagement(self, post: FbPost) -> dict[str, int]:
        """reactions, comments, shares and post_media_view of a post now, aged on the
        clock's engagement time (the only part of the sandbox that runs accelerated)."""
        page = self.pages.get(post.page_id)
        followers = page.followers if page else 0
        visible = post.visible_at(self.now())
        age = self.clock.engagement_age(post.created_time) if visible else 0.0
        return engagement.metrics(
            "facebook", followers=followers, age_seconds=age, seed=self.seed, post_id=post.id
        )

    # --- the timeline page (S1 renders it) ---------------------------------------------

    def timeline(self) -> list[dict[str, Any]]:
        with self._lock:
            pages = list(self.pages.values())
        out = []
        for page in pages:
            posts = [
                {
                    "id": post.id,
                    "text": post.message,
                    "created_at": iso_time(post.created_time),
                    "url": post.permalink,
                    "link": post.link,
                    "metrics": self.engagement(post),
                }
                for post in self.feed(page.id)
            ]
            out.append(
                {
                    "platform": "facebook",
                    "id": page.id,
                    "name": page.name,
                    "followers": page.followers,
                    "posts": posts,
                }
            )
        return out

    def page_summary(self, page: FbPage) -> dict[str, Any]:
        """A Page as the admin API lists it."""
        return {
            "id": page.id,
            "name": page.name,
            "followers": page.followers,
            "category": page.category,
            "admins": list(page.admins),
            "tasks": ADMIN_TASKS,
            "blocked_until": graph_time(page.blocked_until) if page.blocked_until else None,
        }
