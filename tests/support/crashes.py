"""Killing a daemon at a moment that proves something: once sends are in flight, read
from the ledger rather than guessed from the wall clock (a faster or slower machine would
otherwise kill it before a burst began or after it ended)."""

from __future__ import annotations

import time

from sqlalchemy import select

from bot.runtime.wiring import Runtime
from bot.storage.models import Delivery, DeliveryState


def any_open(runtime: Runtime) -> bool:
    """Whether any delivery is still pending, sending or of unknown outcome."""
    with runtime.sessions() as session:
        row = session.scalar(
            select(Delivery.id).where(Delivery.state.in_(DeliveryState.OPEN)).limit(1)
        )
    return row is not None


def wait_for_sends_in_flight(runtime: Runtime, timeout: float) -> None:
    """Return once a delivery is recorded ``sending`` (its request may be on the wire), or
    when nothing is left open, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            sending = session.scalar(
                select(Delivery.id).where(Delivery.state == DeliveryState.SENDING).limit(1)
            )
        if sending is not None or not any_open(runtime):
            return
        time.sleep(0.005)
