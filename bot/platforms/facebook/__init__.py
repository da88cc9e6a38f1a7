"""Facebook Pages: the only package that imports facebook-sdk.

``rules`` builds and reads a Page post's request (pure: both transports carry it out),
``errors`` classifies Graph's answers once, ``adapter`` is the threaded ``Platform``
(posts through ``rules``; reconciles and signs Pages in through facebook-sdk),
``async_publish`` the burst path, ``metrics`` reads engagement and insights in batches.
"""

from bot.platforms.facebook.adapter import FacebookPlatform
from bot.platforms.facebook.errors import (
    DEFAULT_THROTTLE_WAIT,
    GRAPH_ERROR_TABLE,
    GraphErrorRule,
    classify_graph_response,
)
from bot.platforms.facebook.metrics import MAX_IDS_PER_CALL, FacebookMetrics
from bot.platforms.facebook.rules import DEFAULT_GRAPH_VERSION

__all__ = [
    "DEFAULT_GRAPH_VERSION",
    "DEFAULT_THROTTLE_WAIT",
    "GRAPH_ERROR_TABLE",
    "MAX_IDS_PER_CALL",
    "FacebookMetrics",
    "FacebookPlatform",
    "GraphErrorRule",
    "classify_graph_response",
]
