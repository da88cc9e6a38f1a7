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
