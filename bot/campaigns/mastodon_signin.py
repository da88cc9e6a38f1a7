"""Signing in with Mastodon on any instance: the app Clarion registers there on first use
(and keeps), the authorize address, and the code exchanged for the account's token.

Mastodon has no central app registry: an app is registered per instance
(https://docs.joinmastodon.org/client/token/#app). The campaign's own accounts
(``accounts connect mastodon``) and supporters' pledges both sign in through here; the
client secret is sealed in the database like a token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.platforms.base import AccountInfo, Credentials
from bot.storage.models import MastodonApp
from bot.storage.vault import Vault

if TYPE_CHECKING:
    from bot.platforms.mastodon import MastodonPlatform

logger = logging.getLogger(__name__)

# The out-of-band redirect: the instance shows the code for the person to type in (the
# CLI); https://docs.joinmastodon.org/methods/oauth/#authorize.
OUT_OF_BAND = "urn:ietf:wg:oauth:2.0:oob"


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: credentials to seal, who they are, the instance's limit."""

    creds: Credentials
    who: AccountInfo
    max_length: int


def app_for(
    session: Session, vault: Vault, platform: MastodonPlatform, server: str, redirect_uri: str
) -> tuple[str, str]:
    """(client id, client secret) of Clarion's app on ``server`` for ``redirect_uri``,
    registered now if this is the first sign-in from that instance."""
    from bot.platforms.mastodon import SCOPES, instance_url

    base = instance_url(server)
    scopes = " ".join(SCOPES)
    found = _find(session, base, redirect_uri, scopes)
    if found is not None:
        return found.client_id, vault.open_text(found.client_secret)
    client_id, client_secret = platform.register_app(base, redirect_uri, SCOPES)
    row = MastodonApp(
        server=base,
        redirect_uri=redirect_uri,
        scopes=scopes,
        client_id=client_id,
        client_secret=vault.seal_text(client_secret),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another sign-in from the same instance registered it at the same moment: use
        # theirs, so every token is issued to one app.
        theirs = _find(session, base, redirect_uri, scopes)
        if theirs is None:
            raise
        return theirs.client_id, vault.open_text(theirs.client_secret)
    logger.info("registered Clarion as an app on %s", base)
    return client_id, client_secret


def authorize_url(
    session: Session,
    vault: Vault,
    platform: MastodonPlatform,
    server: str,
    redirect_uri: str,
    state: str,
) -> str:
    """Where to send the person: their instance's authorize page for Clarion's app."""
    from bot.platforms.mastodon import instance_url

    client_id, _ = app_for(session, vault, platform, server, redirect_uri)
    url: str = platform.authorize_url(instance_url(server), client_id, redirect_uri, state)
    return url


def finish(
    platform: MastodonPlatform,
    server: str,
    redirect_uri: str,
    code: str,
    app: tuple[str, str],
) -> SignedIn:
    """Exchange ``code`` for the account's token with the ``app`` (client id and secret,
    ``app_for``) it was issued to, check whose it is and read the instance's character
    limit. Three calls to the server and no database: hold no session across them."""
    from bot.platforms.mastodon import instance_url

    base = instance_url(server)
    client_id, client_secret = app
    token = platform.exchange_code(base, client_id, client_secret, redirect_uri, code.strip())
    probe = Credentials(token, server=base)
    who: AccountInfo = platform.verify(probe)
    limit: int = platform.instance_limits(base).max_characters
    creds = Credentials(token, platform_user_id=who.platform_user_id, server=base)
    return SignedIn(creds, who, limit)


def finish_with_app(
    sessions: sessionmaker[Session],
    vault: Vault,
    platform: MastodonPlatform,
    server: str,
    redirect_uri: str,
    code: str,
) -> SignedIn:
    """``finish`` with Clarion's app on ``server`` (kept, or registered now), read in a
    database session of its own that is closed before the server's three calls."""
    with sessions() as session:
        app = app_for(session, vault, platform, server, redirect_uri)
        session.commit()
    return finish(platform, server, redirect_uri, code, app)


def _find(session: Session, server: str, redirect_uri: str, scopes: str) -> MastodonApp | None:
    return session.scalars(
        select(MastodonApp).where(
            MastodonApp.server == server,
            MastodonApp.redirect_uri == redirect_uri,
            MastodonApp.scopes == scopes,
        )
    ).first()
