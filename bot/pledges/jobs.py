"""The daemon's pledge housekeeping: releases when they are due, readiness before them,
supporters' Bluesky sessions kept fresh around them, deleting supporters' tokens once
their posts' engagement has been read, and revoking deleted tokens at their networks.

``periodic(runtime)`` gives the Daemon its (name, function, seconds) jobs. Each runs in
its own single thread beside posting, so a slow readiness check never delays a post.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from bot.platforms.base import Credentials
from bot.platforms.bluesky.oauth import OAuthClient
from bot.pledges import kept_tokens, limits, oauth_requests, oauth_sessions, revocations, rules
from bot.pledges import release as releases
from bot.pledges.mail import Mailer
from bot.pledges.readiness import check_readiness
from bot.runtime.wiring import Runtime
from bot.storage.models import PledgeCampaign, utcnow

logger = logging.getLogger(__name__)

RELEASE_EVERY_SECONDS = 1.0
READINESS_EVERY_SECONDS = 60.0
KEPT_TOKENS_EVERY_SECONDS = 60.0
# Bluesky's access tokens last minutes: looked at every minute from REFRESH_AHEAD before a
# release until it ends (bot/pledges/oauth_sessions.py).
BLUESKY_SESSIONS_EVERY_SECONDS = 60.0
# Revocations that failed wait their back-off (bot/pledges/revocations.py); a minute's
# look finds those due.
REVOCATIONS_EVERY_SECONDS = 60.0


class PledgeJobs:
    def __init__(self, runtime: Runtime, clock: Callable[[], datetime] = utcnow) -> None:
        self.runtime = runtime
        self.clock = clock
        self._lock = threading.Lock()
        self._bluesky: OAuthClient | None = None

    def releases(self) -> list[releases.ReleaseOutcome]:
        """Release every due campaign (logging its rules and costs first), then settle
        those going out."""
        now = self.clock()
        settings = self.runtime.settings
        outcomes = []
        with self._lock, self.runtime.sessions() as session:
            # One campaign's failure (bad data, a bug) must not hold up the others' releases:
            # each is tried on its own, its error logged and retried on the next tick.
            for pc_id in releases.due_campaigns(session, now):
                try:
                    pc = session.get(PledgeCampaign, pc_id)
                    if pc is not None:
                        for line in rules.check(session, pc, settings).lines():
                            logger.info("pledge campaign %s: %s", pc.campaign.slug, line)
                    outcomes.append(
                        releases.release(session, pc_id, now, budgets=limits.budgets_of(settings))
                    )
                except Exception:
                    session.rollback()
                    logger.exception("pledge campaign %s: the release failed", pc_id)
            for pc_id in releases.releasing_campaigns(session):
                try:
                    if releases.settle(session, pc_id, now):
                        logger.info("pledge campaign %s: every post is final", pc_id)
                        # At once, not at the next minute's sweep: with tokens not kept
                        # for engagement, the release's end is when they go.
                        kept_tokens.forget_spent_tokens(session, now, settings)
                except Exception:
                    session.rollback()
                    logger.exception("pledge campaign %s: settling failed", pc_id)
        return outcomes

    def forget_spent_tokens(self) -> int:
        """Delete the tokens of supporters whose posts' engagement has been read."""
        with self.runtime.sessions() as session:
            return kept_tokens.forget_spent_tokens(session, self.clock(), self.runtime.settings)

    def bluesky_client(self) -> OAuthClient:
        if self._bluesky is None:
            self._bluesky = oauth_sessions.bluesky_client(self.runtime)
        return self._bluesky

    def bluesky_sessions(self) -> tuple[int, int]:
        """Refresh the Bluesky sessions of pledges going out soon or now."""
        return oauth_sessions.refresh_expiring(
            self.runtime.sessions,
            self.runtime.vault,
            self.bluesky_client(),
            self.clock(),
            concurrency=self.runtime.settings.delivery_concurrency,
        )

    def fresh_bluesky(self, account_id: int) -> Credentials:
        return oauth_sessions.fresh_credentials(
            self.runtime.sessions, self.runtime.vault, self.bluesky_client(), account_id
        )

    def token_revocations(self) -> revocations.RevocationReport:
        """Revoke, at their networks, the deleted tokens whose revocation is due."""
        return revocations.revoke_due(
            self.runtime.sessions,
            self.runtime.vault,
            revocations.revokers_for(self.runtime, self.bluesky_client()),
            self.clock(),
        )

    def readiness(self) -> None:
        s = self.runtime.settings
        now = self.clock()
        with self.runtime.sessions() as session:
            oauth_requests.forget_expired(session, now)
        check_readiness(
            self.runtime.sessions,
            self.runtime.vault,
            self.runtime.platforms,
            now=now,
            hours=s.readiness_hours,
            base_url=s.web_base_url,
            mailer=Mailer(s),
            concurrency=s.delivery_concurrency,
            fresh={oauth_sessions.PLATFORM: self.fresh_bluesky},
        )


def periodic(runtime: Runtime) -> list[tuple[str, Callable[[], object], float]]:
    jobs = PledgeJobs(runtime)
    return [
        ("pledge-releases", jobs.releases, RELEASE_EVERY_SECONDS),
        ("pledge-readiness", jobs.readiness, READINESS_EVERY_SECONDS),
        ("pledge-kept-tokens", jobs.forget_spent_tokens, KEPT_TOKENS_EVERY_SECONDS),
        ("pledge-bluesky-sessions", jobs.bluesky_sessions, BLUESKY_SESSIONS_EVERY_SECONDS),
        ("pledge-token-revocations", jobs.token_revocations, REVOCATIONS_EVERY_SECONDS),
    ]
