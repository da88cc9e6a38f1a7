"""Everything one running sandbox knows: clock, X, Graph and Bluesky worlds, faults, limits."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import random
from datetime import UTC, datetime
from typing import Any

from bot.sandbox import engagement
from bot.sandbox.bluesky.oauth_server import BlueskyOAuthState
from bot.sandbox.bluesky.state import BlueskySandbox
from bot.sandbox.clock import SandboxClock
from bot.sandbox.doors import Doors
from bot.sandbox.faults import ScriptBook
from bot.sandbox.mastodon.state import MastodonWorld
from bot.sandbox.options import PLATFORMS, FaultConfig, SandboxOptions
from bot.sandbox.ratelimit import RateLimiter
from bot.sandbox.x.state import XState

logger = logging.getLogger(__name__)


class SandboxState:
    def __init__(self, options: SandboxOptions) -> None:
        self.options = options
        self._initial_rate_limits = dataclasses.replace(options.rate_limits)
        self.clock = SandboxClock(options.time_acceleration)
        self.rng = random.Random(options.seed)
        self.x = XState(self.clock)
        self.fb: Any = _make_graph_state(options, self.clock)
        self.bluesky = BlueskySandbox(self.clock, options.seed)
        self.bluesky_oauth = BlueskyOAuthState()
        self.faults: dict[str, FaultConfig] = {p: options.effective_faults(p) for p in PLATFORMS}
        self.scripts = ScriptBook()
        self.limiter = RateLimiter()
        self.storm_until: dict[str, float] = {}  # platform -> wall time a 429 storm ends
        # Each platform's own port, opened on demand, which an outage shuts (doors.py).
        local = "127.0.0.1" if options.host in ("0.0.0.0", "") else options.host  # noqa: S104
        self.doors = Doors(local, (local, options.port))
        self.base_url = f"http://{options.host}:{options.port}"
        self.dirty = False
        # Counted only on the fault path (latency, scripts): the hot path stays lean.
        self.in_flight = 0
        self.peak_in_flight = 0
        # Every Mastodon instance, told apart by host (bot/sandbox/mastodon/).
        self.mastodon = MastodonWorld(self.clock, options.seed)

    def mark_dirty(self) -> None:
        self.dirty = True

    def reset(self) -> None:
        """Back to the start: no users, pages, posts, scripts or storms; the faults and
        rate limits the sandbox was started with."""
        self.options.rate_limits = dataclasses.replace(self._initial_rate_limits)
        self.x.reset()
        self.bluesky.reset()
        self.bluesky_oauth.reset()
        if self.fb is not None:
            self.fb.reset()
        self.bluesky.reset()
        self.mastodon.reset()
        self.faults = {p: self.options.effective_faults(p) for p in PLATFORMS}
        self.scripts.clear()
        self.limiter.clear()
        self.storm_until.clear()
        self.mark_dirty()

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": 2,
            "clock": self.clock.snapshot(),
            "x": self.x.snapshot(),
            "fb": self.fb.snapshot() if self.fb is not None else None,
            "bluesky": self.bluesky.snapshot(),
            "bluesky_oauth": self.bluesky_oauth.snapshot(),
            "mastodon": self.mastodon.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        if "clock" in data:
            self.clock.restore(data["clock"])
        else:  # version 1 kept one accelerated sandbox time
            self.clock.resume_from(float(data.get("sandbox_time", 0)))
        self.x.restore(data.get("x") or {})
        if self.fb is not None and data.get("fb") is not None:
            self.fb.restore(data["fb"])
        self.bluesky.restore(data.get("bluesky") or {})
        self.bluesky_oauth.restore(data.get("bluesky_oauth") or {})
        self.mastodon.restore(data.get("mastodon") or {})

    def timeline(self) -> list[dict[str, Any]]:
        """Every account with its posts, newest first, for the page and the admin API."""
        accounts: list[dict[str, Any]] = []
        for user in self.x.users.values():
            accounts.append(
                {
                    "platform": "x",
                    "id": user.id,
                    "name": f"@{user.username}",
                    "followers": user.followers,
                    "posts": [
                        {
                            "id": t.id,
                            "text": t.text,
                            "created_at": _iso(t.created_at),
                            "url": f"https://x.com/{user.username}/status/{t.id}",
                            "reply_to": t.reply_to,
                            # the public_metrics a GET /2/tweets would return now
                            "metrics": engagement.metrics(
                                "x",
                                followers=user.followers,
                                age_seconds=self.clock.engagement_age(t.created_at),
                                seed=self.options.seed,
                                post_id=t.id,
                            ),
                        }
                        for t in self.x.timeline(user.id)
                    ],
                }
            )
        if self.fb is not None:
            accounts.extend(self.fb.timeline())
        accounts.extend(self.bluesky.timeline())
        accounts.extend(self.mastodon.timeline())
        return accounts


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(ts * 1000) % 1000:03d}Z"
    )


def _make_graph_state(options: SandboxOptions, clock: SandboxClock) -> Any:
    """The Graph half is built by another module; run without it until it exists."""
    try:
        module = importlib.import_module("bot.sandbox.graph.state")
    except ImportError:
        logger.warning("bot.sandbox.graph.state not available: Facebook part disabled")
        return None
    return module.GraphState(options, clock)
