"""Wiring: from settings to a database, a vault, platforms and a deliverer.

The one place that knows which base URL each platform talks to. Nothing else branches on
"sandbox": a sandbox is only a different base URL plus its app credentials.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.delivery.ledger import Ledger
from bot.monitoring.metrics import Metrics
from bot.platforms.base import Credentials, Platform
from bot.platforms.http import ANY_HOST, X_API_ORIGIN, X_LEGACY_ORIGIN
from bot.settings import Secret, Settings
from bot.storage.engine import make_engine, make_session_factory
from bot.storage.lock import DaemonLock
from bot.storage.migrate import upgrade
from bot.storage.vault import Vault

if TYPE_CHECKING:
    from bot.platforms.bluesky.oauth import OAuthClient

logger = logging.getLogger(__name__)

X_ORIGIN = X_API_ORIGIN
GRAPH_ORIGIN = "https://graph.facebook.com"
WWW_ORIGIN = "https://www.facebook.com"


def routes_for(settings: Settings) -> dict[str, str]:
    """Which real origins go elsewhere. SANDBOX_URL sends every host to one sandbox: X and
    Graph by their own origins, any other host (a Mastodon instance, a Bluesky server)
    under ``/_host/<host>`` (``ANY_HOST``), so a rehearsal never reaches the internet. A
    base URL set for an origin wins over it (a sandbox's door for that platform, which
    its outages shut: bot/sandbox/doors.py). X's two hosts (``api.x.com`` and the former
    ``api.twitter.com``) go to the same place."""
    routes = {
        X_ORIGIN: settings.x_api_base_url,
        X_LEGACY_ORIGIN: settings.x_api_base_url,
        GRAPH_ORIGIN: settings.facebook_graph_base_url,
        WWW_ORIGIN: settings.facebook_www_base_url,
    }
    if settings.sandbox_url:
        routes = {o: url or settings.sandbox_url for o, url in routes.items()}
        routes[ANY_HOST] = settings.sandbox_url
    return {origin: url for origin, url in routes.items() if url}


class Runtime:
    def __init__(
        self, settings: Settings, engine: Engine | None = None, *, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine or make_engine(settings.database_url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        # What the deliverer and the poller count and /metrics serves: one per database,
        # kept by ``with_settings`` so a rescaled poller counts into the same registry.
        self.metrics = metrics if metrics is not None else Metrics(self.sessions)

    def migrate(self) -> None:
        upgrade(self.settings.database_url)

    @cached_property
    def vault(self) -> Vault:
        return Vault(self.settings.token_encryption_keys)

    def platform(self, name: str) -> Platform:
        return self.platforms[name]

    @cached_property
    def platforms(self) -> dict[str, Platform]:
        from bot.platforms.bluesky import BlueskyPlatform
        from bot.platforms.facebook import FacebookPlatform
        from bot.platforms.mastodon import MastodonPlatform
        from bot.platforms.x import XPlatform

        s = self.settings
        routes = routes_for(s)
        return {
            "x": XPlatform(
                s.x_consumer_key.reveal(),
                s.x_consumer_secret.reveal(),
                api_base_url=routes.get(X_ORIGIN),
                bearer_token=s.x_bearer_token.reveal() or None,
                timeout=s.http_timeout_seconds,
                pool_size=s.delivery_concurrency,
            ),
            "facebook": FacebookPlatform(
                graph_version=s.facebook_graph_version,
                graph_base_url=routes.get(GRAPH_ORIGIN),
                www_base_url=routes.get(WWW_ORIGIN),
                timeout=s.http_timeout_seconds,
                pool_size=s.delivery_concurrency,
                app_secret=s.facebook_app_secret.reveal() or None,
            ),
            # Bluesky's servers are any host (each account's own PDS): only SANDBOX_URL's
            # every-host route applies.
            "bluesky": BlueskyPlatform(
                routes={ANY_HOST: routes[ANY_HOST]} if ANY_HOST in routes else None,
                timeout=s.http_timeout_seconds,
                pool_size=s.delivery_concurrency,
                on_refresh=self.store_refreshed_session,
                oauth_refresh=self.fresh_bluesky_oauth,
            ),
            # Instances are not known in advance: only SANDBOX_URL reroutes them (ANY_HOST).
            "mastodon": MastodonPlatform(
                routes={k: v for k, v in routes.items() if k == ANY_HOST} or None,
                timeout=s.http_timeout_seconds,
                pool_size=s.delivery_concurrency,
                website=s.web_base_url or None,
            ),
        }

    def store_refreshed_session(self, platform_user_id: str, creds: Credentials) -> None:
        """Seal a Bluesky session the adapter refreshed over the one stored, so a restart
        does not start from a refresh token the server has already retired."""
        from sqlalchemy import update

        from bot.storage.models import Account

        with self.sessions() as session:
            session.execute(
                update(Account)
                .where(Account.platform == "bluesky", Account.platform_user_id == platform_user_id)
                .values(credentials=self.vault.seal(creds))
            )
            session.commit()

    def fresh_bluesky_oauth(self, creds: Credentials) -> Credentials:
        """A pledged Bluesky OAuth session, refreshed if its access token is about to
        expire and sealed back onto its account row (compare-and-swap: a refresh token
        works once, and other processes deliver from the same rows)."""
        from bot.pledges import oauth_sessions

        return oauth_sessions.fresh_for(self.sessions, self.vault, self.bluesky_oauth_client, creds)

    @cached_property
    def bluesky_oauth_client(self) -> OAuthClient:
        from bot.pledges import oauth_sessions

        return oauth_sessions.bluesky_client(self)

    def ledger(self) -> Ledger:
        return Ledger(
            self.sessions,
            f"{socket.gethostname()}:{os.getpid()}",
            on_claimed=self.metrics.claimed,
        )

    def deliverer(self) -> Deliverer:
        s = self.settings
        policy = RetryPolicy(
            max_attempts=s.max_attempts,
            base_seconds=s.retry_base_seconds,
            max_seconds=s.retry_max_seconds,
            late_after=timedelta(minutes=s.missed_grace_minutes),
        )
        return Deliverer(self.ledger(), self.platforms, self.vault, policy, metrics=self.metrics)

    def lock(self) -> DaemonLock:
        return DaemonLock(self.engine, self.settings.database_url)

    def with_settings(self, **changes: object) -> Runtime:
        """The same database with some settings changed."""
        return Runtime(self.settings.replace(**changes), self.engine, metrics=self.metrics)

    def with_sandbox(
        self, url: str, app: dict[str, str], acceleration: float | None = None
    ) -> Runtime:
        """The same database, talking to the sandbox at ``url`` with its app credentials
        and at its clock's rate (``acceleration``; asked of the sandbox when not given),
        so engagement snapshots follow the sandbox's time, not SANDBOX_TIME_ACCELERATION's
        guess of it."""
        if acceleration is None:
            acceleration = sandbox_acceleration(
                url, token=self.settings.sandbox_admin_token.reveal()
            )
        return self.with_settings(
            sandbox_time_acceleration=acceleration,
            sandbox_url=url,
            x_consumer_key=Secret(app["consumer_key"]),
            x_consumer_secret=Secret(app["consumer_secret"]),
            x_bearer_token=Secret(app.get("bearer_token", "")),
            facebook_app_id=app.get("fb_app_id", ""),
            facebook_app_secret=Secret(app.get("fb_app_secret", "")),
        )

    def close(self) -> None:
        self.engine.dispose()


def sandbox_acceleration(
    url: str, timeout: float = 5.0, default: float = 1.0, token: str = ""
) -> float:
    """The running sandbox's clock rate (sandbox seconds per real second); ``default``
    when it cannot be asked (1, real time, for planning: late snapshots, never early).
    ``token``: the sandbox's admin token (SANDBOX_ADMIN_TOKEN), if it has one."""
    import requests

    from bot.sandbox.options import admin_headers

    try:
        answer = requests.get(
            f"{url}/_sandbox/clock", timeout=timeout, headers=admin_headers(token)
        )
        answer.raise_for_status()
        rate = float(answer.json()["acceleration"])
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        logger.warning(
            "could not read the sandbox's clock rate at %s (%s); assuming %s", url, exc, default
        )
        return default
    return rate if rate > 0 else default


def clock_rate(settings: Settings) -> float:
    """The platforms' clock rate engagement was read at, for reports: a sandbox's
    acceleration (asked of the sandbox in SANDBOX_URL, else SANDBOX_TIME_ACCELERATION),
    1 on the real platforms."""
    rate = settings.clock_acceleration
    if settings.uses_sandbox and settings.sandbox_url:
        return sandbox_acceleration(
            settings.sandbox_url,
            timeout=2.0,
            default=rate,
            token=settings.sandbox_admin_token.reveal(),
        )
    return rate
