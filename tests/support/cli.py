"""Running commands as a volunteer would, through click's test runner; a pledge campaign
made and a report seeded the way the CLI tests need them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from bot.cli import main
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, EngagementSnapshot, Post
from tests.support.processes import runtime_for


@dataclass
class Cli:
    config: Path
    runner: CliRunner

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        return self.runner.invoke(
            main, ["--config", str(self.config), *args], input=input, catch_exceptions=False
        )

    def json(self, *args: str) -> object:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def runtime(self) -> Runtime:
        return runtime_for(self.config)


SOON = datetime.now(UTC) + timedelta(days=3)


def create(cli: Cli, slug: str = "fujitsu-demo", *extra: str) -> None:
    result = cli(
        "pledges", "create", slug,
        "--title", "Defend the union at Fujitsu",
        "--text", "Fujitsu: stop victimising union reps. #DefendTheUnion",
        "--link", "https://union.org.uk/fujitsu",
        "--goal", "2",
        "--release", f"{SOON:%Y-%m-%d %H:%M}", "--tz", "UTC",
        *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output


SENT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def seed(cli: Cli) -> dict[str, int]:
    """A campaign with one X and one Facebook post, two snapshots each, one failure."""
    assert cli("deliveries", "list").exit_code == 0  # runs the migrations
    runtime = cli.runtime()
    with runtime.sessions() as session:
        campaign = Campaign(slug="demo", title="Demo day", timezone="UTC")
        x = Account(platform="x", handle="union", platform_user_id="1", followers=1200)
        fb = Account(platform="facebook", handle="Union Page", platform_user_id="9", followers=800)
        session.add_all([campaign, x, fb])
        session.flush()
        post = Post(
            campaign_id=campaign.id,
            key="rally",
            parts={"x": ["Rally"]},
            scheduled_at=SENT,
            timezone="UTC",
            targets=["x", "facebook"],
        )
        other = Post(
            campaign_id=campaign.id,
            key="late",
            parts={"x": ["Late"]},
            scheduled_at=SENT,
            timezone="UTC",
            targets=["x"],
        )
        session.add_all([post, other])
        session.flush()
        ids = {}
        for account, platform_id in ((x, "111"), (fb, "9_222")):
            delivery = Delivery(
                post_id=post.id,
                account_id=account.id,
                platform=account.platform,
                state=DeliveryState.SENT,
                due_at=SENT,
                sent_at=SENT,
                platform_ids=[platform_id],
                url=f"https://example.invalid/{platform_id}",
            )
            session.add(delivery)
            session.flush()
            ids[account.platform] = delivery.id
            for hours, scale in ((1, 1), (24, 3)):
                values = {"likes": 10 * scale, "reposts": 2 * scale, "replies": scale}
                values["views"] = None if account.platform == "facebook" else 500 * scale
                for metric, value in values.items():
                    session.add(
                        EngagementSnapshot(
                            delivery_id=delivery.id,
                            post_id=post.id,
                            platform=account.platform,
                            taken_at=SENT + timedelta(hours=hours),
                            label=f"{hours}h",
                            metric=metric,
                            value=value,
                            source="test",
                            available=value is not None,
                        )
                    )
        session.add(
            Delivery(
                post_id=other.id,
                account_id=x.id,
                platform="x",
                state=DeliveryState.FAILED,
                due_at=SENT,
                error="duplicate content",
            )
        )
        session.commit()
    return ids
