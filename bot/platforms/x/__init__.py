"""X (Twitter): the only package that imports tweepy.

``adapter`` posts and reads through tweepy.Client with OAuth 1.0a user tokens, ``errors``
classifies X's answers once, ``metrics`` reads
engagement in batches, ``auth`` signs the campaign's account in with a PIN.
"""

from bot.platforms.x.adapter import XPlatform, compose_text, normalise_for_match
from bot.platforms.x.auth import XPinAuth
from bot.platforms.x.errors import (
    DEFAULT_RATE_LIMIT_WAIT,
    X_ERROR_TABLE,
    XErrorRule,
    classify_x_response,
)
from bot.platforms.x.metrics import MAX_IDS_PER_CALL, PRIVATE_METRICS_WINDOW, XMetrics
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
