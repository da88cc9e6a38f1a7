"""Bluesky (AT Protocol): the only package that imports the atproto SDK.

``rules`` builds and reads each request (pure: both transports carry it out), ``errors``
classifies Bluesky's XRPC answers once, ``adapter`` is the threaded ``Platform``,
``async_publish`` the burst path, ``sessions`` keeps app-password sessions fresh,
``credentials`` says how a session is sealed, ``metrics`` reads engagement in batches,
``oauth`` is the supporters' AT Protocol OAuth sign-in.
"""

from bot.platforms.bluesky.adapter import BlueskyPlatform
from bot.platforms.bluesky.errors import BLUESKY_ERROR_TABLE, classify_bluesky_response
from bot.platforms.bluesky.metrics import BlueskyMetrics

__all__ = ["BLUESKY_ERROR_TABLE", "BlueskyMetrics", "BlueskyPlatform", "classify_bluesky_response"]
