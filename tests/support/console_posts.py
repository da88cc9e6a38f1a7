"""Posts and accounts for console tests: the campaign's accounts, a queued post, and the
composer's form as a browser sends it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.campaigns.editing import Draft, create_post
from bot.storage.models import Campaign
from tests.support.factories import add_account

ZONE = "Europe/London"


def campaign_accounts(harness: Any) -> dict[str, int]:
    """@union on X and the "Union Page" Facebook Page, and the campaign "demo"."""
    ids = {
        "x": add_account(harness.sessions, harness.runtime.vault, "x", "union"),
        "facebook": add_account(harness.sessions, harness.runtime.vault, "facebook", "Union Page"),
    }
    with harness.sessions() as session:
        session.add(Campaign(slug="demo", title="Demo", timezone=ZONE))
        session.commit()
    return ids


def queued(
    harness: Any,
    text: str = "Demo tomorrow at 8:30",
    *,
    at: datetime | None = None,
    key: str = "demo-eve",
    targets: tuple[str, ...] = ("x", "facebook"),
    actor: str = "cli:test",
    thread: tuple[str, ...] | None = None,
    link: str | None = None,
    requires_approval: bool = False,
    embargoed: bool = False,
) -> int:
    """A post queued through the domain path, as `posts add` does; its id."""
    now = harness.clock.now
    parts = {"x": thread or (text,), "facebook": ("\n\n".join(thread or (text,)),)}
    draft = Draft(
        parts=parts,
        scheduled_at=at or (now + timedelta(hours=3)).replace(second=0, microsecond=0),
        timezone=ZONE,
        targets=targets,
        link=link,
        requires_approval=requires_approval,
        embargoed=embargoed,
    )
    with harness.sessions() as session:
        return create_post(session, "demo", key, draft, actor=actor, now=now).id


def compose_form(
    csrf: str,
    *parts: str,
    when: datetime,
    to: tuple[str, ...] = ("x:@union", "facebook:Union Page"),
    action: str = "save",
    campaign: str = "demo",
    facebook_text: str = "",
    link: str = "",
    hold: bool = False,
    requires_approval: bool = False,
    embargoed: bool = False,
) -> dict[str, Any]:
    """The composer's fields; ``when`` is written as local date and time fields."""
    form: dict[str, Any] = {
        "csrf": csrf,
        "campaign": campaign,
        "x_part": list(parts) or [""],
        "facebook_text": facebook_text,
        "link": link,
        "to": list(to),
        "date": f"{when:%Y-%m-%d}",
        "time": f"{when:%H:%M}",
        "action": action,
    }
    if hold:
        form["hold"] = "on"
    if requires_approval:
        form["requires_approval"] = "on"
    if embargoed:
        form["embargoed"] = "on"
    return form
