"""In-memory Facebook for the sandbox: people, the Pages they run, posts, tokens.

Only Pages can be posted to by an app (personal profiles lost ``publish_actions`` in
2018), so the model is: a *user* (a person who logged in with Facebook) administers
*Pages*; the app holds user tokens (short-lived from the login dialog, long-lived after
``fb_exchange_token``) and Page tokens (from ``/me/accounts``), and posts with the Page
token. Revoking a user's token (the person removed the app, or changed their password)
kills the Page tokens obtained through it too, as on Facebook.

Options read from S1's ``SandboxOptions`` (each optional, defaults in brackets):
``seed`` [1], ``fb_app_id`` ["100000000000001"], ``fb_app_secret`` ["sandbox-fb-app-secret"],
``duplicate_window_s`` [86400], ``fb_min_version`` [19], ``fb_latest_version``
["v26.0"] and the ``fb_*`` limits of :mod:`bot.sandbox.graph_limits`.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import engagement
from bot.sandbox import graph_errors as errors
from bot.sandbox.graph_limits import Counters, GraphLimits, check, check_post
from bot.sandbox.graph_model import (
    ADMIN_TASKS,
    CODE_LIFETIME_SECONDS,
    LONG_LIVED_SECONDS,
    PAGE_SCOPES,
    SHORT_LIVED_SECONDS,
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


class GraphState:
    """All Facebook-side state of one sandbox. Safe to call from several threads."""

    def __init__(self, options: Any, clock: Any) -> None:
        self.options = options
        self.clock = clock
        self.app_id = str(_option(options, "fb_app_id", "100000000000001"))
        self.app_secret = str(_option(options, "fb_app_secret", "sandbox-fb-app-secret"))
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
            self.tokens: dict[str, Token] = {}
            self.codes: dict[str, LoginCode] = {}
            self._next = {"user": 1, "page": 1, "post": 1}
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
            for raw in data.get("tokens", []):
                token = from_dict(Token, raw)
                self.tokens[token.value] = token
            for raw in data.get("codes", []):
                code = from_dict(LoginCode, raw)
                self.codes[code.value] = code
            self._next.update(data.get("next", {}))

    def now(self) -> float:
        """Sandbox time, Unix seconds."""
        return float(self.clock.now().timestamp())

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
        """Posts from this Page get code 368 for ``seconds`` of sandbox time."""
        with self._lock:
            self.pages[page_id].blocked_until = self.now() + seconds if seconds > 0 else None

    # --- tokens ------------------------------------------------------------------------

    def _token_value(self) -> str:
        # Facebook tokens are opaque alphanumerics starting "EAA".
        raw = secrets.token_urlsafe(96).replace("-", "").replace("_", "")
        return "EAA" + raw[:150]

    def issue_user_token(
        self, user_id: str, scopes: list[str] | None = None, *, long_lived: bool = False
    ) -> Token:
        with self._lock:
            if user_id not in self.users:
                raise KeyError(user_id)
            now = self.now()
            lifetime = LONG_LIVED_SECONDS if long_lived else SHORT_LIVED_SECONDS
            token = Token(
                value=self._token_value(),
                kind="user",
                user_id=user_id,
                scopes=list(PAGE_SCOPES if scopes is None else scopes),
                issued_at=now,
                expires_at=now + lifetime,
                long_lived=long_lived,
            )
            self.tokens[token.value] = token
            return token

    def page_token(self, user_token: Token, page_id: str) -> Token:
        """The Page token a Page admin gets from /me/accounts with ``user_token``.

        From a long-lived user token it never expires; from a short-lived one it expires
        with it (https://developers.facebook.com/docs/facebook-login/guides/access-tokens/get-long-lived).
        The same live token is handed out again rather than minting a new one per call.
        """
        with self._lock:
            for token in self.tokens.values():
                if (
                    token.kind == "page"
                    and token.page_id == page_id
                    and token.user_id == user_token.user_id
                    and token.long_lived == user_token.long_lived
                    and token.revoked is None
                    and token.expires_at
                    == (None if user_token.long_lived else user_token.expires_at)
                ):
                    return token
            token = Token(
                value=self._token_value(),
                kind="page",
                user_id=user_token.user_id,
                page_id=page_id,
                scopes=list(user_token.scopes),
                issued_at=self.now(),
                expires_at=None if user_token.long_lived else user_token.expires_at,
                long_lived=user_token.long_lived,
            )
            self.tokens[token.value] = token
            return token

    def app_token(self) -> str:
        """The app access token: Graph accepts ``{app-id}|{app-secret}`` as one."""
        return f"{self.app_id}|{self.app_secret}"

    def is_app_token(self, value: str) -> bool:
        return secrets.compare_digest(value.encode(), self.app_token().encode())

    def inspect(self, value: str) -> Token | None:
        with self._lock:
            return self.tokens.get(value)

    def validate(self, value: str) -> Token:
        """The live token for ``value``, or the Graph error a client would get (code 190)."""
        with self._lock:
            token = self.tokens.get(value)
            if token is None:
                raise errors.invalid_token()
            if token.revoked == "password_changed":
                raise errors.password_changed()
            if token.revoked == "logged_out":
                raise errors.logged_out()
            if token.revoked is not None:
                raise errors.deauthorized(self.app_id)
            now = self.now()
            if token.expires_at is not None and token.expires_at <= now:
                raise errors.expired(_human_time(token.expires_at), _human_time(now))
            return token

    def revoke(self, value: str, reason: str = "deauthorized") -> int:
        """Revoke a token; returns how many tokens died (0 if unknown).

        A user token takes the Page tokens obtained through the same person with it when
        the person removed the app or changed password; "logged_out" ends only that session.
        """
        if reason not in errors.REVOKE_REASONS:
            raise ValueError(f"reason must be one of {errors.REVOKE_REASONS}")
        with self._lock:
            token = self.tokens.get(value)
            if token is None:
                return 0
            victims = [token]
            if token.kind == "user" and reason != "logged_out":
                victims += [
                    t
                    for t in self.tokens.values()
                    if t.user_id == token.user_id and t is not token and t.kind != "app"
                ]
            count = 0
            for victim in victims:
                if victim.revoked is None:
                    victim.revoked = reason
                    count += 1
            logger.info("sandbox facebook: %d token(s) revoked (%s)", count, reason)
            return count

    def throttle(self, token: Token) -> dict[str, str]:
        """Count a call made with ``token``; raises code 4/17/32; returns usage headers."""
        with self._lock:
            return check(
                self.counters,
                self.limits,
                app_id=self.app_id,
                kind=token.kind,
                subject_id=token.subject_id,
                wall=float(self.clock.wall()),
            )

    # --- login codes -------------------------------------------------------------------

    def issue_code(self, user_id: str, client_id: str, redirect_uri: str, scopes: list[str]) -> str:
        with self._lock:
            code = LoginCode(
                value="AQ" + secrets.token_urlsafe(48),
                user_id=user_id,
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                issued_at=self.now(),
            )
            self.codes[code.value] = code
            return code.value

    def redeem_code(self, value: str, redirect_uri: str) -> Token:
        """Exchange a login code for a short-lived user token (code 100 errors otherwise)."""
        with self._lock:
            code = self.codes.get(value)
            if code is None:
                raise errors.GraphError(
                    "Invalid verification code format.", code=100, subcode=36007
                )
            if code.used:
                raise errors.GraphError(
                    "This authorization code has been used.", code=100, subcode=36009
                )
            if self.now() - code.issued_at > CODE_LIFETIME_SECONDS:
                raise errors.GraphError(
                    "This authorization code has expired.", code=100, subcode=36007
                )
            if redirect_uri != code.redirect_uri:
                raise errors.GraphError(
                    "Error validating verification code. Please make sure your redirect_uri "
                    "is identical to the one you used in the OAuth dialog request",
                    code=100,
                    subcode=36008,
                )
            code.used = True
            return self.issue_user_token(code.user_id, code.scopes, long_lived=False)

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
            for other in self.posts.values():
                if (
                    other.page_id == page_id
                    and other.message == message
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
            logger.info("sandbox facebook post %s on page %s", post.id, page_id)
            return post

    def get_post(self, post_id: str) -> FbPost | None:
        with self._lock:
            return self.posts.get(post_id)

    def delete_post(self, post_id: str) -> bool:
        with self._lock:
            return self.posts.pop(post_id, None) is not None

    def feed(
        self, page_id: str, *, since: float | None = None, until: float | None = None
    ) -> list[FbPost]:
        """Visible posts of a Page, newest first (ties: newest id first)."""
        with self._lock:
            now = self.now()
            posts = [
                p
                for p in self.posts.values()
                if p.page_id == page_id
                and p.visible_at(now)
                and (since is None or p.created_time >= since)
                and (until is None or p.created_time <= until)
            ]
        posts.sort(key=lambda p: (p.created_time, int(p.id.partition("_")[2])), reverse=True)
        return posts

    def engagement(self, post: FbPost) -> dict[str, int]:
        """reactions, comments, shares and post_media_view of a post at sandbox now."""
        page = self.pages.get(post.page_id)
        followers = page.followers if page else 0
        age = self.now() - post.created_time if post.visible_at(self.now()) else 0.0
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


def _human_time(ts: float) -> str:
    """How Graph writes times in its 463 message ("Tuesday, 18-Nov-25 10:00:00 PST")."""
    return datetime.fromtimestamp(ts, UTC).strftime("%A, %d-%b-%y %H:%M:%S UTC")
