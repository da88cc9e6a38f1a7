"""Platforms: one package per platform, each the only importer of its SDK, all shaped alike.

A platform package (``x/``, ``facebook/``) holds:

- ``rules``: pure functions that build a post's request and read the answer
  (``publish_call`` -> ``http.Call``), shared by both transports;
- ``errors``: its table of the platform's error codes -> ``base`` error classes, each row
  citing the platform's documentation;
- ``adapter``: the threaded ``base.Platform`` (``publish`` carries out ``rules``; reads and
  sign-in may go through the platform's SDK), with its ``Limits`` as data and an
  ``async_publisher`` for bursts (``async_publish``).

The transports live in ``http`` and the one OAuth 1.0a signer in ``oauth1``. Adding a
platform is one package here, one ``REGISTRY`` entry below and one test folder
(tests/platforms/<name>/): docs/adding-a-platform.md.

Importing this package stays cheap (barkr style): tweepy and facebook-sdk are imported
only when a platform class is first asked for.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformEntry:
    """One platform Clarion can post to."""

    name: str  # its key in campaign files, settings, accounts and the ledger
    label: str  # how people read it ("X", "Facebook")
    module: str  # its package
    adapter: str  # the ``base.Platform`` class in that package


REGISTRY: tuple[PlatformEntry, ...] = (
    PlatformEntry("x", "X", "bot.platforms.x", "XPlatform"),
    PlatformEntry("facebook", "Facebook", "bot.platforms.facebook", "FacebookPlatform"),
    PlatformEntry("bluesky", "Bluesky", "bot.platforms.bluesky", "BlueskyPlatform"),
    PlatformEntry("mastodon", "Mastodon", "bot.platforms.mastodon", "MastodonPlatform"),
)

PLATFORM_NAMES = tuple(entry.name for entry in REGISTRY)
PLATFORM_LABELS = {entry.name: entry.label for entry in REGISTRY}


def platform_entry(name: str) -> PlatformEntry:
    """The registry entry for ``name``; a clear error naming the known platforms."""
    for entry in REGISTRY:
        if entry.name == name:
            return entry
    known = ", ".join(PLATFORM_NAMES)
    raise ValueError(f"unknown platform {name!r}; known platforms: {known}")


def platform_class(name: str) -> type:
    """The adapter class for ``name`` ("x" or "facebook"), imported on first use."""
    entry = platform_entry(name)
    cls: type = getattr(importlib.import_module(entry.module), entry.adapter)
    return cls
