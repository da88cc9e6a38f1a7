"""Mastodon, on any instance: the only package that imports Mastodon.py.

``rules`` builds and reads a status' request (pure: both transports carry it out, with
the delivery's ``Idempotency-Key``), ``errors`` classifies an instance's answers once,
``adapter`` is the threaded ``Platform`` (posts through ``rules``; signs in, reconciles
and reads the instance's limits through Mastodon.py), ``async_publish`` the burst path,
``metrics`` reads favourites, boosts and replies.
"""

from bot.platforms.mastodon.adapter import SCOPES, InstanceLimits, MastodonPlatform
from bot.platforms.mastodon.errors import (
    DEFAULT_RATE_LIMIT_WAIT,
    MASTODON_ERROR_TABLE,
    MastodonErrorRule,
    classify_mastodon_response,
)
from bot.platforms.mastodon.rules import DEFAULT_MAX_CHARACTERS, instance_url

__all__ = [
    "DEFAULT_MAX_CHARACTERS",
    "DEFAULT_RATE_LIMIT_WAIT",
    "MASTODON_ERROR_TABLE",
    "SCOPES",
    "InstanceLimits",
    "MastodonErrorRule",
    "MastodonPlatform",
    "classify_mastodon_response",
    "instance_url",
]
