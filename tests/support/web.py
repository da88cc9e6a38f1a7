"""The campaign pages' helpers: a runtime routed to the sandbox, a pledge campaign, and
walks through the sandbox's consent pages as a supporter would."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import Engine, select
from starlette.testclient import TestClient

from bot.pledges import release
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, free_port
from bot.settings import load_settings
from bot.storage.models import Campaign, Delivery, Pledge, PledgeCampaign
from bot.storage.vault import generate_key
from bot.web.server import serving_web

TESTSERVER = "http://testserver"


def make_runtime(engine: Engine, sandbox: SandboxHandle, base_url: str) -> Runtime:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": str(engine.url),
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
            "WEB_BASE_URL": base_url,
        },
    )
    return Runtime(settings, engine).with_sandbox(sandbox.url, sandbox.admin.app())


def add_campaign(
    runtime: Runtime,
    slug: str = "fujitsu",
    *,
    title: str = "Defend the union at Fujitsu",
    description: str = "Stop the victimisation of reps.",
    message: dict[str, str] | None = None,
    goal: int = 3,
    release_at: datetime | None = None,
    link: str | None = "https://union.example/fujitsu",
    allow_edit: bool = True,
    window_minutes: int = 10,
) -> int:
    with runtime.sessions() as session:
        campaign = Campaign(slug=slug, title=title, timezone="Europe/London")
        session.add(campaign)
        session.flush()
        pc = PledgeCampaign(
            campaign_id=campaign.id,
            description=description,
            message=message
            or {"x": "Stand with the Fujitsu reps at 8:30", "facebook": "Stand with the reps"},
            variants=[],
            link=link,
            goal=goal,
            release_at=release_at or datetime.now(UTC) + timedelta(days=2, hours=3),
            timezone="Europe/London",
            allow_edit=allow_edit,
            window_minutes=window_minutes,
        )
        session.add(pc)
        session.commit()
        return pc.id


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextmanager
def serving_campaign(
    engine: Engine, sandbox: SandboxHandle, **campaign: Any
) -> Iterator[tuple[str, Runtime]]:
    """The campaign pages served on a free loopback port, with one campaign made by
    ``add_campaign(**campaign)``: (their URL, the runtime)."""
    port = free_port()
    runtime = make_runtime(engine, sandbox, f"http://127.0.0.1:{port}")
    add_campaign(runtime, **campaign)
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url, runtime


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def local(url: str) -> str:
    """A URL on the web app as TestClient wants it (path and query)."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == TESTSERVER, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def start_x(client: TestClient, slug: str = "fujitsu") -> str:
    """Press Support with X; return X's (the sandbox's) consent URL."""
    page = client.get(f"/c/{slug}/pledge/x")  # the step the Support button links to
    response = client.post(f"/c/{slug}/pledge/x", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def consent_x(authorize_url: str, handle: str, *, cancel: bool = False) -> str:
    """Answer the sandbox's X consent page; return where X sends the browser back."""
    token = dict(p.split("=", 1) for p in urlsplit(authorize_url).query.split("&"))["oauth_token"]
    form = {"oauth_token": token, "handle": handle}
    form.update({"cancel": "1"} if cancel else {"authorise": "1"})
    back = requests.post(authorize_url, data=form, allow_redirects=False, timeout=10)
    assert back.status_code == 303, back.text
    return back.headers["location"]


def pledge_x(client: TestClient, handle: str, slug: str = "fujitsu") -> str:
    """The whole X pledge; returns the private withdraw path /w/{secret}."""
    callback = consent_x(start_x(client, slug), handle)
    done = client.get(local(callback))
    assert done.status_code == 303, done.text
    return done.headers["location"].split("?")[0]


def start_facebook(client: TestClient, slug: str = "fujitsu") -> str:
    page = client.get(f"/c/{slug}/pledge/facebook")
    response = client.post(f"/c/{slug}/pledge/facebook", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303, response.text
    return response.headers["location"]


def consent_facebook(
    dialog_url: str, person: str, page: str | None = None, *, followers: int = 250, allow=True
) -> str:
    form = {"new_user": person, "decision": "allow" if allow else "cancel"}
    if page:
        form.update({"page_name": page, "page_followers": str(followers)})
    back = requests.post(dialog_url, data=form, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    return back.headers["location"].split("#")[0]


def released_with_one_failure(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
) -> dict[str, int]:
    """Two X supporters pledge; the release goes out; one post is published, the other
    fails on a revoked token. Returns delivery ids by handle."""
    real_now = datetime.now(UTC)
    clock.now = real_now - timedelta(hours=1)
    add_campaign(runtime, goal=2, release_at=real_now - timedelta(minutes=1), window_minutes=0)
    loud, gone = f"loud_rep{next(_handles)}", f"gone_rep{next(_handles)}"
    sandbox.admin.create_x_user(loud, followers=15_000)
    sandbox.admin.create_x_user(gone, followers=700)
    pledge_x(client, loud)
    pledge_x(client, gone)
    clock.now = real_now
    assert [o.state for o in release.run_due(runtime.sessions, real_now)] == ["releasing"]
    with runtime.sessions() as session:
        pledges = session.scalars(select(Pledge).order_by(Pledge.id)).all()
        ids = {"loud_rep": pledges[0].delivery_id, "gone_rep": pledges[1].delivery_id}
    assert runtime.deliverer().run(ids["loud_rep"]) == "sent"
    with runtime.sessions() as session:
        gone = session.get(Delivery, ids["gone_rep"])
        assert gone is not None
        gone.state, gone.error_kind, gone.error = "failed", "auth", "token revoked"
        session.commit()
    release.run_due(runtime.sessions, datetime.now(UTC))
    return ids  # type: ignore[return-value]


_handles = itertools.count(1)  # the sandbox lives as long as the module: new names


def pledge_with_mastodon(
    client: TestClient,
    sandbox: SandboxHandle,
    host: str,
    username: str,
    *,
    followers: int = 100,
    slug: str = "fujitsu",
    again: bool = False,
) -> str:
    """A new account on the sandbox's Mastodon instance ``host`` (``again``: the one
    already there) signs in on its server through the campaign page and pledges; returns
    the private path /w/{secret}."""
    sandbox.admin.create_mastodon_account(host, username, followers=followers, reuse=again)
    step = client.get(f"/c/{slug}/pledge/mastodon")
    assert step.status_code == 200, step.text
    started = client.post(
        f"/c/{slug}/pledge/mastodon",
        data={"csrf": csrf_of(step.text), "server": f"@{username}@{host}"},
    )
    assert started.status_code == 303, started.text
    back = requests.post(
        started.headers["location"],
        data={"username": username, "decision": "approve"},
        allow_redirects=False,
        timeout=10,
    )
    assert back.status_code == 302, back.text
    parts = urlsplit(back.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}" == str(client.base_url).rstrip("/"), parts
    done = client.get(f"{parts.path}?{parts.query}")
    assert done.status_code == 303, done.text
    return done.headers["location"].split("?")[0]
