"""What the release-sized benchmarks share: sandbox accounts, a pledge campaign with one
pledge per account, moving its release, percentiles. Not a benchmark itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from bot.platforms.base import AccountInfo, Credentials
from bot.platforms.bluesky.credentials import pack
from bot.pledges.campaigns import PledgeCampaignSpec, apply_campaigns
from bot.pledges.pledging import add_pledge, find_campaign
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxAdmin
from bot.storage.models import PledgeCampaign


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


INSTANCES = 20  # Mastodon accounts are spread over this many sandbox instances


def make_accounts(
    admin: SandboxAdmin, x: int, pages: int, bluesky: int = 0, mastodon: int = 0
) -> list[dict[str, str]]:
    """``x`` X users, ``pages`` Facebook Pages, ``bluesky`` Bluesky accounts and
    ``mastodon`` Mastodon accounts (on ``INSTANCES`` instances) on the sandbox, with their
    tokens."""

    def x_user(i: int) -> dict[str, str]:
        u = admin.create_x_user(f"bench{i}", followers=50 + i % 500)
        return {"platform": "x", "id": u["id"], "handle": u["username"],
                "token": u["access_token"], "secret": u["access_token_secret"]}  # fmt: skip

    def page(i: int) -> dict[str, str]:
        p = admin.create_page(f"Branch {i}", followers=200 + i % 900)
        return {"platform": "facebook", "id": str(p["page_id"]), "handle": f"branch{i}",
                "token": p["page_token"], "secret": ""}  # fmt: skip

    def bsky(i: int) -> dict[str, str]:
        made = admin.create_bluesky_account(f"bench{i}", followers=80 + i % 700)
        # The session rides in the token (bot.platforms.bluesky.credentials.pack).
        creds = pack(admin.bluesky_session(made["did"]))
        return {"platform": "bluesky", "id": made["did"], "handle": made["handle"],
                "token": creds.token, "secret": ""}  # fmt: skip

    def toot(i: int) -> dict[str, str]:
        host = f"instance{i % INSTANCES}.example"
        m = admin.create_mastodon_account(host, f"bench{i}", followers=100 + i % 700)
        return {"platform": "mastodon", "id": str(m["id"]), "handle": f"bench{i}@{host}",
                "token": m["access_token"], "secret": "", "server": m["server"],
                "key": f"{m['id']}@{host}"}  # fmt: skip

    with ThreadPoolExecutor(16) as pool:
        return (
            list(pool.map(x_user, range(x)))
            + list(pool.map(page, range(pages)))
            + list(pool.map(bsky, range(bluesky)))
            + list(pool.map(toot, range(mastodon)))
        )


def pledge_campaign(runtime: Runtime, slug: str, accounts: list[dict[str, str]]) -> int:
    """A pledge campaign (window 0: every post due at one instant) with one pledge per
    account, pledged through ``add_pledge`` as the web app does after a sign-in; its
    release is a day away until ``move_release``. Returns the campaign's id."""
    spec = PledgeCampaignSpec(
        slug=slug,
        title="Defend the union at Fujitsu",
        message={
            "x": "Fujitsu: stop victimising union reps. #DefendTheUnion",
            "facebook": "Fujitsu must stop victimising union reps.",
            "bluesky": "Fujitsu: stop victimising union reps. #DefendTheUnion",
            "mastodon": "Fujitsu: stop victimising union reps. #DefendTheUnion",
        },
        variants=("Reinstate the Fujitsu reps now. #DefendTheUnion",),
        goal=len(accounts),
        release_at=datetime.now(UTC) + timedelta(days=1),
        timezone="Europe/London",
        window_minutes=0,
    )
    with runtime.sessions() as session:
        apply_campaigns(session, [spec], now=datetime.now(UTC), default_window=0)
        pc = find_campaign(session, spec.slug)
        assert pc is not None
        for a in accounts:
            add_pledge(
                session,
                runtime.vault,
                pc,
                a["platform"],
                Credentials(
                    a["token"], a["secret"], a.get("key", a["id"]), server=a.get("server", "")
                ),
                AccountInfo(a.get("key", a["id"]), a["handle"], a["handle"], 100),
                now=datetime.now(UTC),
            )
        return pc.id


def move_release(runtime: Runtime, pledge_campaign_id: int, release_at: datetime) -> None:
    with runtime.sessions() as session:
        session.execute(
            update(PledgeCampaign)
            .where(PledgeCampaign.id == pledge_campaign_id)
            .values(release_at=release_at)
        )
        session.commit()
