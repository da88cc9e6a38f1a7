"""Platform adapters: one module per platform, each the only importer of its SDK.

Importing this package stays cheap (barkr style): tweepy and facebook-sdk are
imported only when a platform class is first asked for.
"""

from __future__ import annotations

import importlib

PLATFORM_NAMES = ("x", "facebook")

# name -> (module, class). Adding a platform is one module and one line here.
_CLASSES = {
    "x": ("bot.platforms.x", "XPlatform"),
    "facebook": ("bot.platforms.facebook", "FacebookPlatform"),
}


def platform_class(name: str) -> type:
    """The adapter class for ``name`` ("x" or "facebook"), imported on first use."""
    try:
        module_name, class_name = _CLASSES[name]
    except KeyError:
        known = ", ".join(PLATFORM_NAMES)
        raise ValueError(f"unknown platform {name!r}; known platforms: {known}") from None
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls
