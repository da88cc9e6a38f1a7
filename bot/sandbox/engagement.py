"""Simulated engagement for sandbox posts: plausible, deterministic, never shrinking.

Real posts collect most of their engagement in the first hours and then level off over
days. Each metric here follows a saturating curve with two parts, a fast one (time
constant ``tau``) and a slow tail (``24 * tau``) so numbers keep creeping up for days:

    value(t) = final * (0.85 * (1 - exp(-t / tau)) + 0.15 * (1 - exp(-t / (24 * tau))))

``final`` scales with the account's followers (plus a small reach from outside the
follower base, so a brand-new account still sees a few views) and is jittered per post
and per metric by a hash of ``seed`` and ``post_id`` — never the global ``random`` — so
the same post shows the same numbers on every call and after a restart. Values are
floored, so a value never decreases as ``age_seconds`` grows.

``age_seconds`` is engagement time: the caller applies any clock acceleration
(``SandboxClock.engagement_age``).

Kinds (X only, argument ``kind``):

- ``"public"``: the ``public_metrics`` keys (retweet_count, reply_count, like_count,
  quote_count, bookmark_count, impression_count);
- ``"non_public"``: ``non_public_metrics`` (impression_count, url_link_clicks,
  user_profile_clicks);
- ``"organic"``: ``organic_metrics`` (impression_count, like_count, reply_count,
  retweet_count, url_link_clicks, user_profile_clicks).

All kinds for one post are computed from the same per-metric curves, so, for example,
``impression_count`` is the same number in public, non-public and organic metrics.
Facebook (``platform="facebook"``) returns reactions, comments, shares, post_media_view;
Bluesky (``platform="bluesky"``) the AppView's likeCount, repostCount, replyCount, quoteCount.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

X_PUBLIC_KEYS = (
    "retweet_count",
    "reply_count",
    "like_count",
    "quote_count",
    "bookmark_count",
    "impression_count",
)
X_NON_PUBLIC_KEYS = ("impression_count", "url_link_clicks", "user_profile_clicks")
X_ORGANIC_KEYS = (
    "impression_count",
    "like_count",
    "reply_count",
    "retweet_count",
    "url_link_clicks",
    "user_profile_clicks",
)
FACEBOOK_KEYS = ("reactions", "comments", "shares", "post_media_view")

_KINDS = {"public": X_PUBLIC_KEYS, "non_public": X_NON_PUBLIC_KEYS, "organic": X_ORGANIC_KEYS}


@dataclass(frozen=True)
class _Curve:
    """One metric: its share of the audience reached, and how fast it arrives."""

    rate: float  # fraction of the eventual views (or, for views, of the followers)
    tau_hours: float


# Rates are of the eventual views, except views themselves (of followers). Orders of
# magnitude follow typical organic engagement: a few percent like, far fewer share.
_VIEWS = "views"
_X_CURVES = {
    _VIEWS: _Curve(0.35, 2.0),
    "like_count": _Curve(0.020, 3.0),
    "retweet_count": _Curve(0.004, 4.0),
    "reply_count": _Curve(0.002, 6.0),
    "quote_count": _Curve(0.0005, 8.0),
    "bookmark_count": _Curve(0.003, 12.0),
    "url_link_clicks": _Curve(0.006, 3.0),
    "user_profile_clicks": _Curve(0.003, 4.0),
}
_FB_CURVES = {
    _VIEWS: _Curve(0.25, 3.0),
    "reactions": _Curve(0.030, 4.0),
    "comments": _Curve(0.005, 6.0),
    "shares": _Curve(0.003, 8.0),
}
# Bluesky shows no views; they only drive the other curves.
_BSKY_CURVES = {
    _VIEWS: _Curve(0.30, 2.0),
    "likeCount": _Curve(0.030, 3.0),
    "repostCount": _Curve(0.006, 4.0),
    "replyCount": _Curve(0.003, 6.0),
    "quoteCount": _Curve(0.001, 8.0),
}
BLUESKY_KEYS = ("likeCount", "repostCount", "replyCount", "quoteCount")
# Views from outside the follower base (search, shares of shares): keeps small accounts alive.
_OUTSIDE_REACH = 20


def _jitter(seed: int, post_id: str, metric: str) -> float:
    """A factor in [0.5, 1.5) fixed by (seed, post, metric)."""
    digest = hashlib.blake2b(f"{seed}:{post_id}:{metric}".encode(), digest_size=8).digest()
    return 0.5 + int.from_bytes(digest, "big") / 2**64


def _progress(age_seconds: float, tau_hours: float) -> float:
    """How much of the eventual total has arrived by this age, in [0, 1)."""
    if age_seconds <= 0:
        return 0.0
    tau = tau_hours * 3600.0
    return 0.85 * -math.expm1(-age_seconds / tau) + 0.15 * -math.expm1(-age_seconds / (24 * tau))


def _all(
    curves: dict[str, _Curve], *, followers: int, age_seconds: float, seed: int, post_id: str
) -> dict[str, int]:
    view_curve = curves[_VIEWS]
    final_views = (max(followers, 0) * view_curve.rate + _OUTSIDE_REACH) * _jitter(
        seed, post_id, _VIEWS
    )
    out = {_VIEWS: math.floor(final_views * _progress(age_seconds, view_curve.tau_hours))}
    for name, curve in curves.items():
        if name == _VIEWS:
            continue
        final = final_views * curve.rate * _jitter(seed, post_id, name)
        out[name] = math.floor(final * _progress(age_seconds, curve.tau_hours))
    return out


def metrics(
    platform: str,
    *,
    followers: int,
    age_seconds: float,
    seed: int,
    post_id: str = "",
    kind: str = "public",
) -> dict[str, int]:
    """Engagement of one post ``age_seconds`` (engagement time) after it went out.

    ``seed`` is the sandbox seed; ``post_id`` makes posts differ from one another (pass
    it; when omitted every post with the same seed and followers shows the same curve).
    ``kind`` selects the X metric family (see the module docstring); Facebook ignores it.
    """
    if platform == "x":
        if kind not in _KINDS:
            raise ValueError(f"unknown X metrics kind {kind!r}; use one of {sorted(_KINDS)}")
        values = _all(
            _X_CURVES, followers=followers, age_seconds=age_seconds, seed=seed, post_id=post_id
        )
        values["impression_count"] = values[_VIEWS]
        return {key: values[key] for key in _KINDS[kind]}
    if platform == "facebook":
        values = _all(
            _FB_CURVES, followers=followers, age_seconds=age_seconds, seed=seed, post_id=post_id
        )
        values["post_media_view"] = values[_VIEWS]
        return {key: values[key] for key in FACEBOOK_KEYS}
    if platform == "bluesky":
        values = _all(
            _BSKY_CURVES, followers=followers, age_seconds=age_seconds, seed=seed, post_id=post_id
        )
        return {key: values[key] for key in BLUESKY_KEYS}
    raise ValueError(f"unknown platform {platform!r}; use 'x', 'facebook' or 'bluesky'")


def x_non_public(
    *, followers: int, age_seconds: float, seed: int, post_id: str = ""
) -> dict[str, int]:
    """X ``non_public_metrics`` (author's user token only, posts under 30 days)."""
    return metrics(
        "x",
        followers=followers,
        age_seconds=age_seconds,
        seed=seed,
        post_id=post_id,
        kind="non_public",
    )


def x_organic(
    *, followers: int, age_seconds: float, seed: int, post_id: str = ""
) -> dict[str, int]:
    """X ``organic_metrics`` (author's user token only, posts under 30 days)."""
    return metrics(
        "x",
        followers=followers,
        age_seconds=age_seconds,
        seed=seed,
        post_id=post_id,
        kind="organic",
    )
