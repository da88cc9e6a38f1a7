"""Rehearsing on the built-in sandbox: campaign accounts and example posts that go out
within minutes, so a newcomer sees the whole pipeline work before touching real accounts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select

from bot.campaigns.accounts import save_campaign_account
from bot.campaigns.specs import PostSpec
from bot.platforms import PLATFORM_LABELS
from bot.platforms.base import AccountInfo, AuthError, Credentials, PlatformError
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, Post

logger = logging.getLogger(__name__)

CAMPAIGN_X_HANDLE = "ClarionCampaign"  # X handles are 1-15 characters
CAMPAIGN_X_FOLLOWERS = 4_200
CAMPAIGN_PAGE_NAME = "Clarion Campaign"
CAMPAIGN_PAGE_FOLLOWERS = 2_600
CAMPAIGN_BSKY_HANDLE = "clarion-campaign.bsky.social"
CAMPAIGN_BSKY_FOLLOWERS = 1_800
# The campaign's Mastodon account lives on a sandbox instance of its own name.
CAMPAIGN_MASTODON_HOST = "clarion.social"
CAMPAIGN_MASTODON_USER = "ClarionCampaign"
CAMPAIGN_MASTODON_FOLLOWERS = 1_800
FIRST_EXAMPLE_AFTER = timedelta(minutes=2)
EXAMPLE_SPACING = timedelta(seconds=30)


class SandboxAdmin(Protocol):
    def create_x_user(self, handle: str, followers: int = ..., name: str | None = ...) -> Any: ...

    def x_users(self) -> Any: ...

    def x_credentials(self, user_id: str, new_token: bool = ...) -> Any: ...

    def create_page(self, name: str, followers: int = ...) -> Any: ...

    def bluesky_accounts(self) -> Any: ...

    def create_bluesky_account(
        self, handle: str, *, password: str | None = ..., followers: int = ...
    ) -> Any: ...

    def bluesky_session(self, actor: str) -> Any: ...

    def create_mastodon_account(
        self, host: str, username: str, followers: int = ..., reuse: bool = ...
    ) -> Any: ...


def _default_account(runtime: Runtime, platform: str) -> Account | None:
    with runtime.sessions() as session:
        return session.scalars(
            select(Account)
            .where(Account.platform == platform, Account.owner_kind == "campaign")
            .order_by(Account.is_default.desc(), Account.id)
        ).first()


def _still_works(runtime: Runtime, account: Account) -> bool:
    try:
        runtime.platform(account.platform).verify(runtime.vault.open(account.credentials))
    except AuthError:
        return False
    except PlatformError as exc:  # a busy platform says nothing about the token
        logger.warning(
            "could not check %s account %s now (%s); keeping it",
            account.platform,
            account.handle,
            exc.message,
        )
    return True


def ensure_campaign_accounts(runtime: Runtime, admin: SandboxAdmin) -> list[str]:
    """Give the campaign an X account, a Facebook Page, a Bluesky and a Mastodon account on the
    sandbox, once.

    An account whose token the sandbox no longer knows (its state was reset) is created
    again on the sandbox and stored anew. Returns what was done, to print.
    """
    done = []
    for platform in ("x", "facebook", "bluesky", "mastodon"):
        account = _default_account(runtime, platform)
        if account is not None and _still_works(runtime, account):
            continue
        if platform == "bluesky":
            creds, who = _sandbox_bluesky_account(admin)
        elif platform == "x":
            made = _sandbox_x_user(admin)
            creds = Credentials(made["access_token"], made["access_token_secret"], str(made["id"]))
            who = AccountInfo(
                str(made["id"]), str(made["username"]), "Clarion Campaign", CAMPAIGN_X_FOLLOWERS
            )
        elif platform == "mastodon":
            made = admin.create_mastodon_account(
                CAMPAIGN_MASTODON_HOST,
                CAMPAIGN_MASTODON_USER,
                followers=CAMPAIGN_MASTODON_FOLLOWERS,
                reuse=True,
            )
            key = f"{made['id']}@{CAMPAIGN_MASTODON_HOST}"
            creds = Credentials(made["access_token"], "", key, server=made["server"])
            who = AccountInfo(
                key,
                f"{made['username']}@{CAMPAIGN_MASTODON_HOST}",
                "Clarion Campaign",
                CAMPAIGN_MASTODON_FOLLOWERS,
            )
        else:
            made = admin.create_page(CAMPAIGN_PAGE_NAME, followers=CAMPAIGN_PAGE_FOLLOWERS)
            creds = Credentials(made["page_token"], "", str(made["page_id"]))
            who = AccountInfo(
                str(made["page_id"]),
                CAMPAIGN_PAGE_NAME,
                CAMPAIGN_PAGE_NAME,
                CAMPAIGN_PAGE_FOLLOWERS,
            )
        save_campaign_account(runtime, platform, creds, who, source="sandbox")
        label = (
            f"Facebook Page {who.name!r}"
            if platform == "facebook"
            else f"{PLATFORM_LABELS[platform]} account @{who.handle}"
        )
        done.append(f"created the campaign's {label} on the sandbox")
    return done


def _sandbox_bluesky_account(admin: SandboxAdmin) -> tuple[Credentials, AccountInfo]:
    """The campaign's sandbox Bluesky account with a fresh session: created, or taken over
    when the sandbox kept it from an earlier run."""
    from bot.platforms.bluesky.credentials import pack

    known = {str(a["handle"]) for a in admin.bluesky_accounts()}
    if CAMPAIGN_BSKY_HANDLE not in known:
        admin.create_bluesky_account(CAMPAIGN_BSKY_HANDLE, followers=CAMPAIGN_BSKY_FOLLOWERS)
    session = admin.bluesky_session(CAMPAIGN_BSKY_HANDLE)
    who = AccountInfo(
        str(session["did"]), CAMPAIGN_BSKY_HANDLE, "Clarion Campaign", CAMPAIGN_BSKY_FOLLOWERS
    )
    return pack(session), who


def _sandbox_x_user(admin: SandboxAdmin) -> Any:
    """The campaign's sandbox X user with a fresh token: created, or taken over when the
    sandbox kept it from an earlier run (its state file outlives our database)."""
    existing = next(
        (u for u in admin.x_users() if str(u["username"]).lower() == CAMPAIGN_X_HANDLE.lower()),
        None,
    )
    if existing is not None:
        return admin.x_credentials(str(existing["id"]), new_token=True)
    return admin.create_x_user(
        CAMPAIGN_X_HANDLE, followers=CAMPAIGN_X_FOLLOWERS, name="Clarion Campaign"
    )


def real_accounts(runtime: Runtime) -> list[str]:
    """The campaign accounts that are not the sandbox's (from config.env or connected):
    a database that holds them is a real campaign's, not a rehearsal's."""
    with runtime.sessions() as session:
        rows = session.execute(
            select(Account.platform, Account.handle).where(
                Account.owner_kind == "campaign", Account.source != "sandbox"
            )
        ).all()
    return [f"{platform} {handle}" for platform, handle in rows]


def queue_is_empty(runtime: Runtime) -> bool:
    with runtime.sessions() as session:
        return not session.scalar(select(func.count()).select_from(Post))


def retime_examples(specs: list[PostSpec], now: datetime) -> list[PostSpec]:
    """The example files' posts in their order, the first 2 minutes from now and then one
    every 30 seconds; Facebook's own hold needs 10 minutes, so it is dropped."""
    ordered = sorted(specs, key=lambda s: (s.scheduled_at, s.campaign, s.key))
    start = now.replace(microsecond=0) + FIRST_EXAMPLE_AFTER
    return [
        replace(spec, scheduled_at=start + i * EXAMPLE_SPACING, hold_on_facebook=False)
        for i, spec in enumerate(ordered)
    ]
