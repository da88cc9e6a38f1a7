"""A pledge release's outcome written straight into the database, as the release and the
engagement poller leave it: supporters on all four networks, their deliveries published,
failed or still going, and engagement as the page's widest cells show it (tens of
millions, "not available", or estimates with their margins). For the layout tests: the
page then renders it through the real report, as after a real release, in a second
instead of a release and a week of readings on the sandbox."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select

from bot.engagement.store import MEMBER_METRIC, RELEASE_ESTIMATE_SOURCE
from bot.runtime.wiring import Runtime
from bot.storage.models import (
    Account,
    Campaign,
    Delivery,
    DeliveryState,
    EngagementSnapshot,
    Pledge,
    PledgeCampaign,
    PledgeCampaignState,
    Post,
)
from bot.web.campaign import SHOWN_METRICS

FOUR_NETWORKS = ("x", "facebook", "bluesky", "mastodon")
MESSAGE = {
    "x": "Fujitsu: reinstate the sacked union reps now. #DefendTheUnion",
    "facebook": "Fujitsu has sacked two union reps for organising. Stand with them.",
    "bluesky": "Fujitsu: reinstate the sacked union reps now.",
    "mastodon": "Fujitsu: reinstate the sacked union reps now. #DefendTheUnion",
}
# Per network: the supporters whose post was published, failed, is still going; each
# with this many followers, so a network's reach is over a billion and the total
# "6,172,836,250" (the Reach column's widest figure).
PUBLISHED, FAILED, GOING, FOLLOWERS = 1250, 37, 12, 1_234_567
# Each published post's reading: summed over 1,250 posts, "12,345,000" likes on a
# network, "617,283,750" views in the Total column.
READING = {
    "likes": 9876,
    "reposts": 1234,
    "replies": 567,
    "views": 123_456,
    "link_clicks": 4321,
}


class Cells(StrEnum):
    """What every engagement cell says."""

    FIGURES = "figures"  # "12,345,000"
    UNAVAILABLE = "unavailable"  # "not available": no network gave the metric
    ESTIMATES = "estimates"  # "617,280,000 ± 61,728,000 (estimated)": a sampled release


def released_on_four_networks(runtime: Runtime, slug: str, cells: Cells) -> None:
    """A release of ``slug`` still going out on the four networks (a few posts left),
    engagement read a day after, every cell of the engagement table as ``cells`` says."""
    now = datetime.now(UTC).replace(microsecond=0)
    released_at = now - timedelta(days=1)
    with runtime.sessions() as session:
        campaign = Campaign(
            slug=slug, title="Defend the union at Fujitsu", timezone="Europe/London"
        )
        session.add(campaign)
        session.flush()
        pc = PledgeCampaign(
            campaign_id=campaign.id,
            description="Stop the victimisation of reps.",
            message=MESSAGE,
            variants=[],
            link="https://union.example/fujitsu",
            goal=1000,
            release_at=released_at,
            timezone="Europe/London",
            state=PledgeCampaignState.RELEASING,
        )
        session.add(pc)
        session.flush()
        snapshots: list[dict[str, Any]] = []
        for platform in FOUR_NETWORKS:
            post = Post(
                campaign_id=campaign.id,
                key=f"pledge-{platform}",
                kind="pledge",
                parts={platform: [MESSAGE[platform]]},
                scheduled_at=released_at,
                timezone="Europe/London",
                targets=[platform],
            )
            session.add(post)
            session.flush()
            states = (
                [DeliveryState.SENT] * PUBLISHED
                + [DeliveryState.FAILED] * FAILED
                + [DeliveryState.PENDING] * GOING
            )
            accounts = list(
                session.scalars(
                    insert(Account).returning(Account.id),
                    [
                        {
                            "platform": platform,
                            "handle": f"{slug}-{platform}-{n}",
                            "platform_user_id": f"{slug}-{platform}-{n}",
                            "owner_kind": "supporter",
                            "followers": FOLLOWERS,
                        }
                        for n in range(len(states))
                    ],
                )
            )
            session.execute(
                insert(Delivery),
                [
                    {
                        "post_id": post.id,
                        "account_id": account,
                        "platform": platform,
                        "state": state,
                        "due_at": released_at,
                        "sent_at": released_at if state == DeliveryState.SENT else None,
                        "parts_done": int(state == DeliveryState.SENT),
                    }
                    for account, state in zip(accounts, states, strict=True)
                ],
            )
            deliveries = session.execute(
                select(Delivery.id, Delivery.account_id, Delivery.state).where(
                    Delivery.post_id == post.id
                )
            ).all()
            session.execute(
                insert(Pledge),
                [
                    {
                        "pledge_campaign_id": pc.id,
                        "account_id": d.account_id,
                        "platform": platform,
                        "withdraw_key_hash": hashlib.sha256(
                            f"{slug}-{platform}-{d.id}".encode()
                        ).hexdigest(),
                        "followers": FOLLOWERS,
                        "delivery_id": d.id,
                    }
                    for d in deliveries
                ],
            )
            sent = [d.id for d in deliveries if d.state == DeliveryState.SENT]
            snapshots.extend(_engagement(cells, platform, post.id, sent, now))
        session.execute(insert(EngagementSnapshot), snapshots)
        session.commit()


def _engagement(
    cells: Cells, platform: str, post_id: int, sent: list[int], taken_at: datetime
) -> list[dict[str, Any]]:
    """The snapshot rows the poller writes for one network's published posts: each
    post's own reading, or (sampled) one estimate per metric and a member row each."""
    row = {"post_id": post_id, "platform": platform, "taken_at": taken_at, "label": "24h"}
    if cells is Cells.ESTIMATES:
        population = len(sent)
        estimates = [
            {
                **row,
                "delivery_id": None,
                "metric": metric,
                "value": total,
                "low": total - total // 10,
                "high": total + total // 10,
                "source": RELEASE_ESTIMATE_SOURCE,
                "estimated": True,
                "sample_size": 50,
                "population": population,
            }
            for metric, each in READING.items()
            for total in [each * population]
        ]
        members = [
            {
                **row,
                "delivery_id": delivery,
                "metric": MEMBER_METRIC,
                "value": None,
                "source": RELEASE_ESTIMATE_SOURCE,
                "estimated": True,
                "available": False,
                "sample_size": 50,
                "population": population,
            }
            for delivery in sent
        ]
        return estimates + members
    available = cells is Cells.FIGURES
    return [
        {
            **row,
            "delivery_id": delivery,
            "metric": metric,
            "value": READING[metric] if available else None,
            "source": "public_metrics",
            "available": available,
        }
        for delivery in sent
        for metric in SHOWN_METRICS
    ]
