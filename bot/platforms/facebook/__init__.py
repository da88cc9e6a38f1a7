"""Facebook Pages: the only package that imports facebook-sdk.

``adapter`` posts, reconciles and signs Pages in through the Graph API and classifies
Graph's answers once; ``metrics`` reads post engagement and insights in batches.
"""

from bot.platforms.facebook.adapter import (
    DEFAULT_GRAPH_VERSION,
    DEFAULT_THROTTLE_WAIT,
    GRAPH_ERROR_TABLE,
    FacebookPlatform,
    GraphErrorRule,
    classify_graph_response,
)
from bot.platforms.facebook.metrics import MAX_IDS_PER_CALL, FacebookMetrics

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
