"""The Graph half of the sandbox on its loopback server (tests/support/graph.py), per test."""

from __future__ import annotations

import pytest

from bot.sandbox.graph.state import GraphState
from tests.support.graph import GraphSandbox, HandClock, Options, graph_server, rerouted_session


@pytest.fixture(name="fb")
def fb_fixture() -> GraphSandbox:
    """A fresh Graph world per test on the shared loopback server."""
    url, holder = graph_server()
    clock = HandClock()
    state = GraphState(Options(), clock)
    holder.fb, holder.clock = state, clock
    holder.dirty.clear()
    return GraphSandbox(url, state, clock, rerouted_session(url), holder.dirty)
