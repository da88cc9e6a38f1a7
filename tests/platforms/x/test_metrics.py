"""Metric readers over real HTTP against the sandbox, and X's partial answers.

Facebook's reader is tested in tests/platforms/facebook/test_metrics.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.platforms.base import AuthError, Credentials
from bot.platforms.x import XMetrics, XPlatform
from bot.platforms.x.metrics import parse_lookup
from bot.sandbox.testing import running_sandbox

PROBLEMS = "https://api.twitter.com/2/problems/"


@pytest.fixture
def sandbox() -> Any:
    with running_sandbox() as handle:
        yield handle


def test_x_lookup_marks_not_found_ids_deleted_and_private_fields_unavailable():
    payload = {
        "data": [{"id": "1", "public_metrics": {"like_count": 4, "impression_count": 90}}],
        "errors": [
            {"resource_id": "2", "type": PROBLEMS + "resource-not-found"},
            {"resource_id": "1", "type": PROBLEMS + "not-authorized-for-field"},
        ],
    }
    first, gone = parse_lookup(payload, private=True)
    assert (first.platform_id, first.values["likes"], first.values["views"]) == ("1", 4, 90)
    assert first.values["link_clicks"] is None and first.sources["link_clicks"] == "x.unavailable"
    assert first.values["reposts"] is None  # not in the answer: unavailable, not 0
    assert (gone.platform_id, gone.deleted) == ("2", True)


def test_x_reads_public_metrics_on_the_bearer_token_and_private_with_the_users(sandbox):
    app = sandbox.admin.app()
    x = XPlatform(
        app["consumer_key"],
        app["consumer_secret"],
        api_base_url=sandbox.url,
        bearer_token=app["bearer_token"],
    )
    user = sandbox.admin.create_x_user("reader", followers=10000)
    creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
    post = x.publish(creds, "Picket at 6am")
    sandbox.admin.advance_clock(7200)
    metrics = XMetrics(x)
    [public] = metrics.read_public([post.platform_id])
    assert public.values["likes"] and public.values["link_clicks"] is None
    [private] = metrics.read_private(creds, [post.platform_id])
    assert private.values["link_clicks"] is not None
    assert private.sources["link_clicks"] == "x.non_public_metrics"
    with pytest.raises(ValueError):
        metrics.read_public([str(i) for i in range(101)])


def test_x_without_a_bearer_token_cannot_read_public_metrics(sandbox):
    app = sandbox.admin.app()
    x = XPlatform(app["consumer_key"], app["consumer_secret"], api_base_url=sandbox.url)
    with pytest.raises(AuthError):
        XMetrics(x).read_public(["1"])
