"""Small builders for tests: accounts, posts and their deliveries in a few words."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.campaigns.enqueue import ApplyReport, apply_specs
from bot.campaigns.specs import PostSpec
from bot.platforms.base import Credentials
from bot.storage.models import Account, Delivery
from bot.storage.vault import Vault

_keys = itertools.count(1)


def add_account(
    sessions: sessionmaker[Session],
    vault: Vault,
    platform: str = "x",
    handle: str = "union",
    *,
    user_id: str | None = None,
    owner_kind: str = "campaign",
    token: str = "tok",
) -> int:
    with sessions() as session:
        account = Account(
            platform=platform,
            handle=handle,
            name=handle,
            owner_kind=owner_kind,
            is_default=owner_kind == "campaign",
            platform_user_id=user_id or f"u-{handle}",
            credentials=vault.seal(
                Credentials(token=token, secret="s", platform_user_id=user_id or f"u-{handle}")
            ),
        )
        session.add(account)
        session.commit()
        return account.id


def spec(
    text: str = "Demo tomorrow at 8:30",
    *,
    at: datetime | None = None,
    to: tuple[str, ...] = ("x",),
    key: str | None = None,
    campaign: str = "demo",
    thread: tuple[str, ...] | None = None,
    link: str | None = None,
    kind: str = "post",
    hold_on_facebook: bool = False,
    requires_approval: bool = False,
    embargoed: bool = False,
) -> PostSpec:
    parts_x = thread or (text,)
    parts = {"x": parts_x, "facebook": ("\n\n".join(parts_x),)}
    return PostSpec(
        campaign=campaign,
        key=key or f"post-{next(_keys)}",
        scheduled_at=at or datetime.now(UTC) + timedelta(minutes=5),
        timezone="Europe/London",
        targets=to,
        parts=parts,
        link=link,
        kind=kind,
        hold_on_facebook=hold_on_facebook,
        requires_approval=requires_approval,
        embargoed=embargoed,
    )


def queue(
    sessions: sessionmaker[Session],
    *specs: PostSpec,
    now: datetime | None = None,
    allow_past: bool = False,
) -> ApplyReport:
    with sessions() as session:
        return apply_specs(
            session, list(specs), now=now or datetime.now(UTC), allow_past=allow_past
        )


def delivery_rows(sessions: sessionmaker[Session]) -> list[Delivery]:
    """Every delivery, in the order they were queued."""
    with sessions() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def due_now(sessions: sessionmaker[Session], vault: Vault, *texts: str) -> list[int]:
    """The union's X account and one post per text, all due now; their delivery ids."""
    add_account(sessions, vault, "x", "union", user_id="42")
    now = datetime.now(UTC)
    queue(sessions, *[spec(t, key=t.replace(" ", "-"), at=now) for t in texts], allow_past=True)
    return [d.id for d in delivery_rows(sessions)]


def delivery_states(sessions: sessionmaker[Session]) -> list[str]:
    """Each delivery's state, in the order the deliveries were queued."""
    return [d.state for d in delivery_rows(sessions)]
