"""Every registered platform keeps the shape docs/adding-a-platform.md describes."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from bot.platforms import PLATFORM_NAMES, REGISTRY, platform_class
from bot.platforms.base import Limits

TESTS = Path(__file__).parent


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda e: e.name)
def test_each_platform_has_rules_errors_an_adapter_and_a_test_folder(entry):
    for part in ("rules", "errors", "adapter", "async_publish"):
        importlib.import_module(f"{entry.module}.{part}")
    rules = importlib.import_module(f"{entry.module}.rules")
    for function in ("build_post_request", "read_post_response", "publish_call"):
        assert callable(getattr(rules, function)), f"{entry.module}.rules.{function}"
    cls = platform_class(entry.name)
    assert cls.name == entry.name
    assert isinstance(cls.limits, Limits)
    assert callable(cls.async_publisher)
    assert (TESTS / entry.name / "__init__.py").exists()
    assert list((TESTS / entry.name).glob("test_*.py"))


def test_an_unknown_platform_is_refused_by_name():
    with pytest.raises(
        ValueError,
        match="unknown platform 'myspace'; known platforms: x, facebook, bluesky, mastodon",
    ):
        platform_class("myspace")
    assert PLATFORM_NAMES == ("x", "facebook", "bluesky", "mastodon")
