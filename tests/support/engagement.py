"""A small world for engagement tests: the real sandbox, real adapters, a database.

Posts are published for real through the adapters (so the sandbox knows them) and
recorded as sent deliveries; ``world.advance(seconds)`` moves the sandbox clock and the
poller's clock together, which is how a week passes in a test.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.engagement.poll import Poller
from bot.platforms.base import Credentials
from bot.platforms.bluesky import BlueskyPlatform
from bot.platforms.facebook import FacebookPlatform
from bot.platforms.http import ANY_HOST
from bot.platforms.mastodon import MastodonPlatform
from bot.platforms.x import XPlatform
from bot.sandbox.testing import SandboxHandle
from bot.storage.models import (
    Account,
    Delivery,
    DeliveryState,
    EngagementPolicy,
    EngagementSnapshot,
    Post,
)
from bot.storage.vault import Vault

OFFSETS = (("1h", 3600), ("24h", 86400), ("7d", 7 * 86400), ("29d", 29 * 86400))


_names = itertools.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    sandbox: SandboxHandle
    sessions: sessionmaker[Session]
    vault: Vault
    platforms: dict[str, Any]
    clock: Clock
    campaign_id: int = 0
    slug: str = "demo"
    creds: dict[int, Credentials] = field(default_factory=dict)

    def x_account(self, followers: int = 1000) -> int:
        user = self.sandbox.admin.create_x_user(f"vol{next(_names)}", followers=followers)
        creds = Credentials(user["access_token"], user["access_token_secret"], user["id"])
        return self._account("x", user["username"], creds, followers)

    def facebook_page(self, followers: int = 1000) -> int:
        page = self.sandbox.admin.create_page(f"Page {next(_names)}", followers=followers)
        creds = Credentials(page["page_token"], "", page["page_id"])
        return self._account("facebook", page["name"], creds, followers)

    def bluesky_account(self, followers: int = 1000) -> int:
        from bot.platforms.bluesky.credentials import pack

        made = self.sandbox.admin.create_bluesky_account(f"vol{next(_names)}", followers=followers)
        creds = pack(self.sandbox.admin.bluesky_session(made["did"]))
        return self._account("bluesky", made["handle"], creds, followers)

    def mastodon_account(self, followers: int = 1000, host: str = "union.social") -> int:
        made = self.sandbox.admin.create_mastodon_account(
            host, f"vol{next(_names)}", followers=followers
        )
        creds = Credentials(made["access_token"], "", f"{made['id']}@{host}", server=made["server"])
        return self._account("mastodon", f"{made['username']}@{host}", creds, followers)

    def _account(self, platform: str, handle: str, creds: Credentials, followers: int) -> int:
        with self.sessions() as session:
            account = Account(
                platform=platform,
                handle=handle,
                name=handle,
                platform_user_id=creds.platform_user_id,
                credentials=self.vault.seal(creds),
                followers=followers,
            )
            session.add(account)
            session.commit()
            self.creds[account.id] = creds
            return account.id

    def post(self, key: str | None = None) -> int:
        with self.sessions() as session:
            post = Post(
                campaign_id=self.campaign_id,
                key=key or f"post-{next(_names)}",
                parts={"x": ["hello"], "facebook": ["hello"]},
                scheduled_at=self.clock.now,
                timezone="UTC",
                targets=["x"],
            )
            session.add(post)
            session.commit()
            return post.id

    def send(self, post_id: int, account_id: int, text: str | None = None) -> int:
        """Publish on the sandbox through the real adapter; record a sent delivery."""
        with self.sessions() as session:
            platform = session.get(Account, account_id).platform  # type: ignore[union-attr]
        published = self.platforms[platform].publish(
            self.creds[account_id], text or f"Demo at 8:30, message {next(_names)}"
        )
        with self.sessions() as session:
            delivery = Delivery(
                post_id=post_id,
                account_id=account_id,
                platform=platform,
                state=DeliveryState.SENT,
                due_at=self.clock.now,
                sent_at=self.clock.now,
                parts_done=1,
                platform_ids=[published.platform_id],
                url=published.url,
            )
            session.add(delivery)
            session.commit()
            return delivery.id

    def release(self, platform: str, count: int, followers: int = 2000) -> list[int]:
        """A pledge release as bot.pledges.release writes it: one ``pledge`` post per
        supporter account, each sent once, now. The sandbox is bulk-seeded (one admin call)
        with the posts, so hundreds of them take well under a second."""
        seeded = self.sandbox.admin._call(
            "POST",
            "/seed",
            json={
                "platform": platform,
                "accounts": count,
                "posts_per_account": 1,
                "followers": followers,
                "age_seconds": 0,
            },
        )["accounts"]
        with self.sessions() as session:
            accounts = []
            for entry in seeded:
                token = entry.get("access_token") or entry["page_token"]
                creds = Credentials(token, entry.get("access_token_secret", ""), entry["id"])
                account = Account(
                    platform=platform,
                    handle=entry.get("username") or entry["name"],
                    name=entry.get("username") or entry["name"],
                    platform_user_id=entry["id"],
                    owner_kind="supporter",
                    credentials=self.vault.seal(creds),
                    followers=followers,
                )
                accounts.append((account, entry["post_ids"][0], creds))
            session.add_all(a for a, _, _ in accounts)
            session.flush()
            posts = [
                Post(
                    campaign_id=self.campaign_id,
                    key=f"pledge-{account.id}",
                    kind="pledge",
                    parts={platform: ["I'll be at the demo at 8:30"]},
                    scheduled_at=self.clock.now,
                    timezone="UTC",
                    targets=[f"{platform}:@{account.handle}"],
                )
                for account, _, _ in accounts
            ]
            session.add_all(posts)
            session.flush()
            deliveries = [
                Delivery(
                    post_id=post.id,
                    account_id=account.id,
                    platform=platform,
                    state=DeliveryState.SENT,
                    due_at=self.clock.now,
                    sent_at=self.clock.now,
                    parts_done=1,
                    platform_ids=[platform_id],
                    url=f"https://example.invalid/{platform_id}",
                )
                for post, (account, platform_id, _) in zip(posts, accounts, strict=True)
            ]
            session.add_all(deliveries)
            session.commit()
            for account, _, creds in accounts:
                self.creds[account.id] = creds
            return [d.id for d in deliveries]

    def fail(self, post_id: int, account_id: int, platform: str = "x") -> int:
        with self.sessions() as session:
            delivery = Delivery(
                post_id=post_id,
                account_id=account_id,
                platform=platform,
                state=DeliveryState.FAILED,
                due_at=self.clock.now,
                error="duplicate content",
            )
            session.add(delivery)
            session.commit()
            return delivery.id

    def advance(self, seconds: float) -> None:
        self.sandbox.admin.advance_clock(seconds)
        self.clock.now += timedelta(seconds=seconds)

    def policy(self, *, cap_usd: float | None = None, sample_size: int | None = None) -> None:
        with self.sessions() as session:
            session.merge(
                EngagementPolicy(
                    campaign_id=self.campaign_id, cap_usd=cap_usd, sample_size=sample_size
                )
            )
            session.commit()

    def poller(self, seed: int = 1, **kwargs: Any) -> Poller:
        return Poller(
            self.sessions,
            self.platforms,
            self.vault,
            offsets=OFFSETS,
            clock=self.clock,
            rng=random.Random(seed),
            **kwargs,
        )


def make_platforms(url: str, app: dict[str, str]) -> dict[str, Any]:
    return {
        "x": XPlatform(
            app["consumer_key"],
            app["consumer_secret"],
            api_base_url=url,
            bearer_token=app["bearer_token"],
        ),
        "facebook": FacebookPlatform(graph_base_url=url, www_base_url=url),
        "bluesky": BlueskyPlatform(routes={ANY_HOST: url}),
        "mastodon": MastodonPlatform(routes={ANY_HOST: url}),
    }


def series(world: World, delivery_id: int, metric: str) -> list[tuple[str, int | None, bool]]:
    with world.sessions() as session:
        rows = session.scalars(
            select(EngagementSnapshot)
            .where(EngagementSnapshot.delivery_id == delivery_id)
            .where(EngagementSnapshot.metric == metric)
            .order_by(EngagementSnapshot.taken_at)
        ).all()
        return [(r.label, r.value, r.available) for r in rows]
