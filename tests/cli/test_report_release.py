"""`report` of a sampled pledge release: the estimate once, marked; one pledge post alone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.engagement.store import ESTIMATE_SOURCE, MEMBER_METRIC, RELEASE_ESTIMATE_SOURCE
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, EngagementSnapshot, Post
from tests.support.cli import Cli

SENT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TAKEN = SENT + timedelta(hours=1)


def seed_release(cli: Cli, *, legacy: bool = False) -> list[str]:
    """Ten pledge posts on X; the 1h snapshot read three (likes 5, 6, 7) and estimated
    the ten at 60 (40-80), as the poller stores it. Answers the posts' keys, read first.

    ``legacy``: as stored before member rows existed, when only a post sent from many
    accounts was sampled: one post, "rally", of ten deliveries, and no member rows."""
    assert cli("deliveries", "list").exit_code == 0  # runs the migrations
    runtime = cli.runtime()
    keys = []
    with runtime.sessions() as session:
        campaign = Campaign(slug="demo", title="Demo day", timezone="UTC")
        session.add(campaign)
        session.flush()
        rows = []
        rally = None
        for n in range(10):
            account = Account(
                platform="x",
                handle=f"supporter{n}",
                platform_user_id=str(100 + n),
                owner_kind="supporter",
                followers=1000,
            )
            post = rally or Post(
                campaign_id=campaign.id,
                key="rally" if legacy else f"pledge-{n + 1}",
                kind="post" if legacy else "pledge",
                parts={"x": [f"I'll be there ({n})"]},
                scheduled_at=SENT,
                timezone="UTC",
                targets=[f"x:@supporter{n}"],
            )
            rally = post if legacy else None
            session.add_all([account, post])
            session.flush()
            delivery = Delivery(
                post_id=post.id,
                account_id=account.id,
                platform="x",
                state=DeliveryState.SENT,
                due_at=SENT,
                sent_at=SENT,
                platform_ids=[str(5000 + n)],
            )
            session.add(delivery)
            session.flush()
            keys.append(post.key)
            common = {"post_id": post.id, "platform": "x", "taken_at": TAKEN, "label": "1h"}
            source = ESTIMATE_SOURCE if legacy else RELEASE_ESTIMATE_SOURCE
            if n < 3:
                rows.append(
                    EngagementSnapshot(
                        delivery_id=delivery.id, metric="likes", value=5 + n, source="x", **common
                    )
                )
            member = EngagementSnapshot(
                delivery_id=delivery.id,
                metric=MEMBER_METRIC,
                value=None,
                source=source,
                estimated=True,
                available=False,
                sample_size=3,
                population=10,
                **common,
            )
            rows.extend([] if legacy else [member])
            if n == 0:
                rows.append(
                    EngagementSnapshot(
                        delivery_id=None,
                        metric="likes",
                        value=60,
                        low=40,
                        high=80,
                        source=source,
                        estimated=True,
                        sample_size=3,
                        population=10,
                        **common,
                    )
                )
        session.add_all(rows)
        session.commit()
    return keys


def test_the_report_counts_a_sampled_release_by_its_estimate_alone_and_marks_it(cli: Cli):
    seed_release(cli)
    result = cli("report", "demo")
    assert result.exit_code == 0, result.output
    lines = {line.split("  ")[0]: line.split() for line in result.output.splitlines()}
    assert lines["likes"][-4:] == ["~60", "(40-80)", "~60", "(40-80)"]  # not 60 + 18
    data = cli.json("report", "demo")
    likes = data["total"]["metrics"]["likes"]
    assert (likes["value"], likes["low"], likes["high"], likes["estimated"]) == (60, 40, 80, True)
    assert data["snapshots"] == 4  # three readings and the estimate: not the member rows
    (stage,) = data["growth"]
    assert stage["posts"] == 10 and stage["metrics"]["likes"]["value"] == 60


def test_one_pledge_post_shows_its_own_reading_or_nothing_never_the_estimate(cli: Cli):
    keys = seed_release(cli)
    read = cli.json("report", "demo", "--post", keys[0])
    likes = read["total"]["metrics"]["likes"]
    assert (likes["value"], likes["estimated"]) == (5, False)
    unread = cli.json("report", "demo", "--post", keys[5])
    assert unread["total"]["metrics"]["likes"]["value"] is None
    assert unread["total"]["sent"] == 1


def test_the_csv_has_the_sampled_readings_only_marked_in_sample(cli: Cli, tmp_path: Path):
    seed_release(cli)
    out = tmp_path / "release.csv"
    assert cli("report", "demo", "--csv", str(out)).exit_code == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["likes"], r["in_sample"]) for r in table] == [
        ("5", "yes"),
        ("6", "yes"),
        ("7", "yes"),
    ]


def test_an_estimate_stored_before_member_rows_still_counts_its_post_once(cli: Cli):
    seed_release(cli, legacy=True)
    data = cli.json("report", "demo")
    likes = data["total"]["metrics"]["likes"]
    assert (likes["value"], likes["low"], likes["high"], likes["estimated"]) == (60, 40, 80, True)
    (stage,) = data["growth"]
    assert stage["posts"] == 10 and stage["metrics"]["likes"]["value"] == 60
