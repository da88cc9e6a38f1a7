"""The campaign's own accounts: stored once, tokens sealed, whoever they came from.

config.env may name the campaign's X tokens and Facebook Page token. They are registered
as the default campaign accounts the first time they are seen (one call to the platform
to learn whose they are), and again only when the token changes: a keyed fingerprint
says so without keeping or sending the token anywhere else.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.platforms.base import AccountInfo, Credentials
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, AccountStatus
from bot.storage.vault import Vault

logger = logging.getLogger(__name__)


def save_campaign_account(
    runtime: Runtime,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    *,
    source: str,
    make_default: bool = True,
) -> Account:
    """Insert or update the campaign account with this platform user id; seal the token."""
    with runtime.sessions() as session:
        account = store_campaign_account(
            session, runtime.vault, platform, creds, who, source=source, make_default=make_default
        )
        session.commit()
        return account


def store_campaign_account(
    session: Session,
    vault: Vault,
    platform: str,
    creds: Credentials,
    who: AccountInfo,
    *,
    source: str,
    make_default: bool = True,
) -> Account:
    """``save_campaign_account`` in the caller's transaction (which also writes its audit
    row). Connecting an account that is there already reconnects it: new token, active."""
    account = session.scalars(
        select(Account).where(
            Account.platform == platform,
            Account.owner_kind == "campaign",
            Account.platform_user_id == who.platform_user_id,
        )
    ).first()
    if make_default:
        session.execute(
            update(Account)
            .where(Account.platform == platform, Account.owner_kind == "campaign")
            .values(is_default=False)
        )
    if account is None:
        account = Account(
            platform=platform, owner_kind="campaign", platform_user_id=who.platform_user_id
        )
    account.is_default = make_default or bool(account.is_default)
    account.handle = who.handle
    account.name = who.name
    account.followers = who.followers
    # replace(): keeps what else the credentials carry (a Mastodon account's server).
    account.credentials = vault.seal(replace(creds, platform_user_id=who.platform_user_id))
    account.token_fingerprint = vault.fingerprint(creds.token)
    account.source = source
    account.status = AccountStatus.ACTIVE
    account.status_reason = ""
    session.add(account)
    session.flush()
    return account


def config_credentials(runtime: Runtime) -> dict[str, Credentials]:
    s = runtime.settings
    found = {}
    if s.x_access_token and s.x_access_token_secret:
        found["x"] = Credentials(s.x_access_token.reveal(), s.x_access_token_secret.reveal())
    if s.facebook_page_id and s.facebook_page_token:
        found["facebook"] = Credentials(s.facebook_page_token.reveal(), "", s.facebook_page_id)
    return found


def sync_config_accounts(runtime: Runtime) -> list[str]:
    """Register config.env's campaign tokens when new or changed; returns what was done.

    Raises PlatformError (from verify) when a configured token does not work: starting
    with a broken campaign account would only fail later, at posting time.
    """
    done = []
    for platform, creds in config_credentials(runtime).items():
        fingerprint = runtime.vault.fingerprint(creds.token)
        with runtime.sessions() as session:
            known = session.scalars(
                select(Account.id).where(
                    Account.platform == platform,
                    Account.owner_kind == "campaign",
                    Account.token_fingerprint == fingerprint,
                )
            ).first()
        if known is not None:
            continue
        who = runtime.platform(platform).verify(creds)
        save_campaign_account(runtime, platform, creds, who, source="config")
        done.append(f"registered the campaign's {platform} account @{who.handle} from config")
    return done
