"""X (Twitter): the only package that imports tweepy.

``rules`` builds and reads a post's request (pure: both transports carry it out),
``errors`` classifies X's answers once, ``adapter`` is the threaded ``Platform`` (posts
through ``rules``, reads through tweepy.Client), ``async_publish`` the burst path,
``metrics`` reads engagement in batches, ``auth``/``signin`` sign accounts in.
"""

from bot.platforms.x.adapter import XPlatform
from bot.platforms.x.auth import XPinAuth
from bot.platforms.x.errors import (
    DEFAULT_RATE_LIMIT_WAIT,
    X_ERROR_TABLE,
    XErrorRule,
    classify_x_response,
)
from bot.platforms.x.metrics import MAX_IDS_PER_CALL, PRIVATE_METRICS_WINDOW, XMetrics
from bot.platforms.x.rules import compose_text, normalise_for_match
from bot.platforms.x.signin import XWebSignIn

__all__ = [
    "DEFAULT_RATE_LIMIT_WAIT",
    "MAX_IDS_PER_CALL",
    "PRIVATE_METRICS_WINDOW",
    "X_ERROR_TABLE",
    "XErrorRule",
    "XMetrics",
    "XPinAuth",
    "XWebSignIn",
    "XPlatform",
    "classify_x_response",
    "compose_text",
    "normalise_for_match",
]
