"""How long a release must take on each network to stay inside the limits that bind one
Clarion posting for thousands of accounts at once. Pure functions: no database, no clock.

- Bluesky: 3,000 requests per 5 minutes per IP address on Bluesky-hosted PDSes
  (https://docs.bsky.app/docs/advanced-guides/rate-limits). Every supporter's post comes
  from this one Clarion, so all of a release's Bluesky posts share that budget. Accounts
  on a self-hosted PDS do not, but a handle does not say where its PDS is, so every
  Bluesky post is counted against it (the cautious side).
- Mastodon: 300 API calls per 5 minutes per account and per IP address, by default
  (https://docs.joinmastodon.org/api/rate-limits/). Each instance counts on its own, so
  the release's posts are grouped by instance and the largest group bounds it.

A post needs one request (createRecord, POST /api/v1/statuses); REQUESTS_PER_POST_TENTHS
(bot/platforms/base.py) adds a margin for the session refreshes and reconciling reads that
some posts also need.
Posts whose requests fit in one budget go together; more are spread evenly over the time
the budget needs for all of them, so none waits out a 429.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.platforms.base import REQUESTS_PER_POST_TENTHS
from bot.platforms.mastodon.rules import instance_of
from bot.settings import Settings

BLUESKY_REQUESTS_PER_ADDRESS = 3000  # BLUESKY_REQUESTS_PER_5_MINUTES's default
BLUESKY_ADDRESS_WINDOW_MINUTES = 5
MASTODON_REQUESTS_PER_INSTANCE = 300  # MASTODON_REQUESTS_PER_5_MINUTES's default
MASTODON_INSTANCE_WINDOW_MINUTES = 5


@dataclass(frozen=True)
class Budgets:
    """Requests per 5 minutes from one address (the settings BLUESKY_REQUESTS_PER_5_MINUTES
    and MASTODON_REQUESTS_PER_5_MINUTES); 0: no such limit applies."""

    bluesky: int = BLUESKY_REQUESTS_PER_ADDRESS
    mastodon: int = MASTODON_REQUESTS_PER_INSTANCE


DEFAULT_BUDGETS = Budgets()


class Bound(StrEnum):
    """What sets a network's least duration."""

    WINDOW = "window"  # the campaign's spread window; no network limit is in the way
    PER_ADDRESS = "per_address"  # Bluesky's per-IP budget on its hosted PDSes
    PER_INSTANCE = "per_instance"  # a Mastodon instance's per-IP budget


@dataclass(frozen=True)
class Duration:
    """How long one network's share of a release takes at least, and why."""

    platform: str
    posts: int
    needed_minutes: int  # what the network's limit needs (0: no limit in the way)
    minutes: int  # what the release will take: the window or the need, the longer
    bound: Bound
    instance: str = ""  # Mastodon: the instance with the most posts
    instance_posts: int = 0
    budget: int = 0  # the requests per 5 minutes that bound it

    @property
    def stretched(self) -> bool:
        """True when the posts go over a longer time than the campaign's window."""
        return self.bound != Bound.WINDOW


def minutes_for(requests_posts: int, budget: int, window_minutes: int) -> int:
    """Least whole minutes for ``requests_posts`` posts at ``budget`` requests per
    ``window_minutes``, each post costing REQUESTS_PER_POST_TENTHS / 10 requests, sent
    evenly. Posts whose requests fit in one budget may all go at once: 0. Budget 0: no
    limit, 0."""
    requests_tenths = requests_posts * REQUESTS_PER_POST_TENTHS
    if budget <= 0 or requests_tenths <= budget * 10:
        return 0
    return -(-(requests_tenths * window_minutes) // (budget * 10))  # ceiling


def duration(
    platform: str,
    handles: Iterable[str],
    window_minutes: int,
    budgets: Budgets = DEFAULT_BUDGETS,
) -> Duration:
    """How long ``platform``'s posts (one per handle) take at least with a spread window
    of ``window_minutes``."""
    handles = list(handles)
    posts = len(handles)
    window = max(0, window_minutes)
    if platform == "bluesky":
        need = minutes_for(posts, budgets.bluesky, BLUESKY_ADDRESS_WINDOW_MINUTES)
        bound = Bound.PER_ADDRESS if need > window else Bound.WINDOW
        return Duration(platform, posts, need, max(need, window), bound, budget=budgets.bluesky)
    if platform == "mastodon":
        by_instance = Counter(instance_of(h) for h in handles)
        host, largest = by_instance.most_common(1)[0] if by_instance else ("", 0)
        need = minutes_for(largest, budgets.mastodon, MASTODON_INSTANCE_WINDOW_MINUTES)
        bound = Bound.PER_INSTANCE if need > window else Bound.WINDOW
        return Duration(
            platform, posts, need, max(need, window), bound, host, largest, budgets.mastodon
        )
    return Duration(platform, posts, 0, window, Bound.WINDOW)


def durations(
    by_platform: dict[str, list[str]], window_minutes: int, budgets: Budgets = DEFAULT_BUDGETS
) -> list[Duration]:
    """One Duration per network with posts, in the order given."""
    return [duration(p, hs, window_minutes, budgets) for p, hs in by_platform.items() if hs]


def budgets_of(settings: Settings) -> Budgets:
    """The budgets the settings name."""
    return Budgets(
        bluesky=settings.bluesky_requests_per_5_minutes,
        mastodon=settings.mastodon_requests_per_5_minutes,
    )


def sentence(d: Duration, names: dict[str, str], window_minutes: int) -> str:
    """For people: how long the network's posts take and what bounds them."""
    name = names.get(d.platform, d.platform)
    posts = f"{d.posts:,} post" + ("" if d.posts == 1 else "s")
    if d.bound == Bound.PER_ADDRESS:
        return (
            f"{name}: {posts} need at least {d.needed_minutes} min at Bluesky's per-address "
            f"limit ({d.budget:,} requests per "
            f"{BLUESKY_ADDRESS_WINDOW_MINUTES} minutes); they will be spread over "
            f"{d.minutes} min"
        )
    if d.bound == Bound.PER_INSTANCE:
        return (
            f"{name}: {posts}; the largest instance, {d.instance}, has {d.instance_posts:,}, "
            f"which need at least {d.needed_minutes} min at its per-address limit "
            f"({d.budget:,} requests per "
            f"{MASTODON_INSTANCE_WINDOW_MINUTES} minutes); they will be spread over "
            f"{d.minutes} min"
        )
    if window_minutes <= 0:
        return f"{name}: {posts}, all at the release time"
    return f"{name}: {posts} over the {window_minutes}-minute window"
