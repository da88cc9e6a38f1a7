"""Supporters who signed in as the campaign pages sign them in — Bluesky's AT Protocol
OAuth (PAR, PKCE, DPoP with server nonces) and Mastodon's OAuth (Clarion's app registered
per instance) — and pledged through ``add_pledge``, against a sandbox over real HTTP.

The sign-ins run side by side (each is a handful of requests to the sandbox); the pledges
are then written one after another, as the web app writes them after each callback.
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.campaigns import mastodon_signin
from bot.platforms.base import AccountInfo
from bot.platforms.bluesky import oauth
from bot.platforms.http import ANY_HOST
from bot.platforms.mastodon import MastodonPlatform
from bot.pledges.oauth_sessions import bluesky_client
from bot.pledges.pledging import add_pledge, find_campaign
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxAdmin
from tests.support.bluesky import consent_bluesky, query_of
from tests.support.mastodon import consent_mastodon

SIGN_INS_AT_ONCE = 4  # the Mastodon adapter pools as many connections as DELIVERY_CONCURRENCY


@dataclass(frozen=True)
class OAuthSupporter:
    """One signed-in supporter: ``user_id`` is the DID (Bluesky) or ``id@host``
    (Mastodon), as Clarion stores it; ``host`` and ``local_id`` find a Mastodon account's
    statuses on its instance."""

    platform: str
    user_id: str
    handle: str
    refresh_token: str = ""  # Bluesky: the one the sign-in gave
    host: str = ""
    local_id: str = ""


def sign_in_bluesky(
    client: oauth.OAuthClient, sandbox_url: str, handle: str, password: str
) -> dict[str, Any]:
    """The real sign-in: resolve the handle, push the request, consent on the sandbox's
    page, exchange the code (DPoP-bound). Returns the creds the pledge page seals."""
    pending = client.start(handle)
    back = consent_bluesky(pending.authorize_url, handle, password, routes={ANY_HOST: sandbox_url})
    return client.finish(query_of(back), pending)


def mastodon_redirect_uri(runtime: Runtime, slug: str) -> str:
    """The pledge page's callback for ``slug``, as the web app names it."""
    return f"{runtime.settings.web_base_url.rstrip('/')}/c/{slug}/mastodon/callback"


def sign_in_mastodon(
    runtime: Runtime, slug: str, server: str, username: str
) -> mastodon_signin.SignedIn:
    """The real sign-in on ``server``: Clarion's app there (registered on first use),
    the instance's authorize form approved as ``username``, the code exchanged."""
    platform = runtime.platforms["mastodon"]
    assert isinstance(platform, MastodonPlatform)
    redirect_uri = mastodon_redirect_uri(runtime, slug)
    with runtime.sessions() as session:
        url = mastodon_signin.authorize_url(
            session, runtime.vault, platform, server, redirect_uri, secrets.token_urlsafe(8)
        )
        session.commit()
    code = query_of(consent_mastodon(url, username))["code"]
    return mastodon_signin.finish_with_app(
        runtime.sessions, runtime.vault, platform, server, redirect_uri, code
    )


def pledge_with_oauth(
    runtime: Runtime,
    admin: SandboxAdmin,
    sandbox_url: str,
    slug: str,
    *,
    bluesky: int,
    mastodon: int,
    instances: int,
    short_lived: int = 0,
    short_lifetime_s: float = 5.0,
) -> list[OAuthSupporter]:
    """``bluesky`` Bluesky and ``mastodon`` Mastodon supporters (over ``instances``
    instances) signed in and pledged to the campaign ``slug``. The last ``short_lived``
    Bluesky supporters' access tokens live ``short_lifetime_s`` (the sandbox's per-account
    knob), theirs and every refreshed successor: they run out during the release."""
    made = [admin.create_bluesky_account(f"{slug}b{i}", password="pw") for i in range(bluesky)]
    if short_lived:
        admin.bluesky_oauth(short_lifetime_s, dids=[m["did"] for m in made[-short_lived:]])
    client = bluesky_client(runtime)
    hosts = [f"{slug}{i}.example" for i in range(instances)]
    toots = [
        admin.create_mastodon_account(hosts[i % instances], f"{slug}m{i}") for i in range(mastodon)
    ]
    with ThreadPoolExecutor(SIGN_INS_AT_ONCE) as pool:
        bluesky_creds = list(
            pool.map(lambda m: sign_in_bluesky(client, sandbox_url, m["handle"], "pw"), made)
        )
        # The first sign-in on each instance registers Clarion's app there; the others
        # find it kept.
        first = [
            sign_in_mastodon(runtime, slug, t["server"], t["username"]) for t in toots[:instances]
        ]
        rest = list(
            pool.map(
                lambda t: sign_in_mastodon(runtime, slug, t["server"], t["username"]),
                toots[instances:],
            )
        )
    supporters: list[OAuthSupporter] = []
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        pc = find_campaign(session, slug)
        assert pc is not None, f"no campaign {slug!r}"
        for creds in bluesky_creds:
            who = AccountInfo(creds["did"], creds["handle"], creds["handle"])
            add_pledge(
                session, runtime.vault, pc, "bluesky", oauth.credentials_of(creds), who, now=now
            )
            supporters.append(
                OAuthSupporter("bluesky", creds["did"], creds["handle"], creds["refresh_token"])
            )
        for toot, done in zip(toots, first + rest, strict=True):
            add_pledge(
                session,
                runtime.vault,
                pc,
                "mastodon",
                done.creds,
                done.who,
                now=now,
                max_length=done.max_length,
            )
            supporters.append(
                OAuthSupporter(
                    "mastodon",
                    done.who.platform_user_id,
                    done.who.handle,
                    host=toot["server"].removeprefix("https://"),
                    local_id=str(toot["id"]),
                )
            )
    return supporters
