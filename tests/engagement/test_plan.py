"""The snapshot plan: offsets from the settings, stages, labels after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.engagement.plan import label_for, next_at, stage_at
from bot.settings import ConfigError, load_settings
from tests.support.engagement import OFFSETS, World

SENT = datetime(2026, 11, 1, 12, tzinfo=UTC)


def test_offsets_come_from_the_settings_in_order_and_print_as_written():
    settings = load_settings(None, environ={"ENGAGEMENT_OFFSETS": "30m, 2h,3d"})
    assert tuple(settings.engagement_offsets) == (("30m", 1800), ("2h", 7200), ("3d", 259200))
    assert str(settings.engagement_offsets) == "30m,2h,3d"


@pytest.mark.parametrize("raw", ["1h,1h", "24h,1h", "5x", "h", "0h", ""])
def test_bad_offsets_name_the_setting(raw: str):
    with pytest.raises(ConfigError, match="ENGAGEMENT_OFFSETS"):
        load_settings(None, environ={"ENGAGEMENT_OFFSETS": raw})


def test_stages_labels_and_the_next_time_follow_the_offsets():
    assert stage_at(SENT, SENT + timedelta(minutes=59), OFFSETS) == 0
    assert stage_at(SENT, SENT + timedelta(hours=1), OFFSETS) == 1
    assert stage_at(SENT, SENT + timedelta(days=8), OFFSETS) == 3
    assert label_for(3, OFFSETS) == "7d" and label_for(0, OFFSETS) == "refresh"
    assert next_at(SENT, 3, OFFSETS) == SENT + timedelta(days=29)
    assert next_at(SENT, 4, OFFSETS) is None


def test_after_downtime_one_snapshot_is_taken_with_the_latest_label_passed(world: World):
    delivery = world.send(world.post(), world.x_account())
    world.advance(3 * 86400)  # the daemon was down through the 1 h and 24 h snapshots
    poller = world.poller()
    assert poller.run().read == 1
    assert poller.run().due == 0  # nothing stale is taken twice
    from tests.support.engagement import series

    assert [label for label, _, _ in series(world, delivery, "likes")] == ["24h"]
    world.advance(4 * 86400)
    assert poller.run().read == 1
    assert [label for label, _, _ in series(world, delivery, "likes")] == ["24h", "7d"]


def test_failed_deliveries_are_never_read(world: World):
    account = world.x_account()
    world.fail(world.post(), account)
    world.advance(3600)
    assert world.poller().run().due == 0
