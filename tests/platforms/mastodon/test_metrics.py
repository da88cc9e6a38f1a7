"""Mastodon engagement: favourites, boosts and replies of statuses, read in batches from
sandbox instances through Mastodon.py; what Mastodon has no figure for is None."""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError
from bot.platforms.http import ANY_HOST
from bot.platforms.mastodon import MastodonPlatform
from bot.platforms.mastodon.metrics import MASTODON_BATCH, MastodonMetrics
from tests.platforms.mastodon.sandbox_accounts import host_of, new_account

BATCH = r"^/api/v1/statuses$"


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


@pytest.fixture
def md(sb):
    return MastodonPlatform(routes={ANY_HOST: sb.url}, timeout=5)


def test_counts_come_back_under_clarions_names_and_the_rest_is_not_available(sb, md):
    creds = new_account(sb, followers=5000)
    first = md.publish(creds, "Count me")
    reply = md.publish(creds, "A reply", reply_to=first.platform_id)
    metrics = MastodonMetrics(md)
    [reading, other] = metrics.read(creds, [first.platform_id, reply.platform_id])
    assert reading.platform_id == first.platform_id and not reading.deleted
    shown = sb.admin.mastodon_statuses(host_of(creds), creds.platform_user_id)[-1]
    assert reading.values["likes"] == shown["favourites_count"]
    assert reading.values["reposts"] == shown["reblogs_count"]
    assert reading.values["replies"] == shown["replies_count"] >= 1
    assert reading.values["views"] is None and reading.values["quotes"] is None
    assert reading.sources["likes"] == "mastodon.status.favourites_count"
    assert other.platform_id == reply.platform_id
    assert metrics.calls == 1


def test_a_deleted_status_is_marked_deleted_not_zero(sb, md):
    creds = new_account(sb)
    kept = md.publish(creds, "Still here")
    [gone, here] = MastodonMetrics(md).read(creds, ["1", kept.platform_id])
    assert gone.deleted and gone.values == {}
    assert not here.deleted


def test_many_statuses_are_read_in_batches_of_twenty(sb, md):
    creds = new_account(sb)
    ids = [md.publish(creds, f"post {n}").platform_id for n in range(MASTODON_BATCH + 5)]
    metrics = MastodonMetrics(md)
    readings = metrics.read(creds, ids)
    assert [r.platform_id for r in readings] == ids and not any(r.deleted for r in readings)
    assert metrics.calls == 2


def test_an_instance_without_the_batch_lookup_is_read_one_by_one(sb, md):
    creds = new_account(sb)
    one = md.publish(creds, "old server").platform_id
    sb.admin.script("mastodon", "GET", BATCH, [{"status": 404, "body": {"error": "Not found"}}])
    metrics = MastodonMetrics(md)
    [reading] = metrics.read(creds, [one])
    assert not reading.deleted and reading.values["likes"] is not None
    assert metrics.calls == 2


def test_a_revoked_token_is_an_auth_error(sb, md):
    creds = new_account(sb)
    one = md.publish(creds, "soon revoked").platform_id
    sb.admin.script("mastodon", "GET", BATCH, [{"status": 401, "body": {"error": "revoked"}}])
    with pytest.raises(AuthError):
        MastodonMetrics(md).read(creds, [one])
