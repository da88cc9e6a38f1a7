"""Waiting for something a background thread will do, without sleeping a fixed time."""

from __future__ import annotations

import time


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def seconds_until(predicate, timeout: float, what: str) -> float:
    """How long ``predicate`` took to hold; fails the test, naming ``what``, if it did not
    within ``timeout`` seconds."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")
