"""A volunteer, in a real browser, from invite to posts on the platforms: signs in,
writes an X thread and a Facebook post, finds them on the calendar, edits one, and sees
them sent by the daemon to the sandbox — on a phone and on a laptop screen, with every
page of the composer, calendar and posts checked by axe-core and photographed.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bot.campaigns.text_rules import weighted_length
from bot.console.roles import Role
from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.people import users
from bot.runtime.rehearsal import CAMPAIGN_PAGE_NAME, CAMPAIGN_X_HANDLE, ensure_campaign_accounts
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.settings import load_settings
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, Post
from bot.storage.vault import generate_key
from bot.web.server import serving_web

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
ZONE = "Europe/London"
PASSWORD = "four good words for tests"
# The daemon runs this far ahead of the wall clock, so posts written for a few minutes
# from now (the composer takes whole minutes) go out at once instead of in minutes.
DAEMON_AHEAD = timedelta(minutes=10)

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: sudo apt-get install -y chromium "
        "(or run scripts/ensure-system-packages.sh)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
axe_sync = pytest.importorskip("axe_playwright_python.sync_playwright")

expect = sync_api.expect
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def _runtime(engine: Engine, sandbox: SandboxHandle, base_url: str) -> Runtime:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": str(engine.url),
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
            "WEB_BASE_URL": base_url,
            "TIMEZONE": ZONE,
        },
    )
    return Runtime(settings, engine).with_sandbox(sandbox.url, sandbox.admin.app())


class Checked:
    """Runs axe-core on a page and saves its screenshot, named by page and viewport."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        self.axe = axe_sync.Axe()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str) -> None:
        results = self.axe.run(page)
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: {results.generate_report()}"
        width, height = self.size
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"), full_page=True)


def _minute_after(moment: datetime) -> datetime:
    """The next whole minute after ``moment``, in the campaign's zone."""
    local = moment.astimezone(ZoneInfo(ZONE))
    return local.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _wait_sent(runtime: Runtime, post_ids: list[int], timeout: float = 30.0) -> list[Delivery]:
    deadline = time.monotonic() + timeout
    rows: list[Delivery] = []
    while time.monotonic() < deadline:
        with runtime.sessions() as session:
            rows = list(session.scalars(select(Delivery).where(Delivery.post_id.in_(post_ids))))
        if rows and all(d.state == DeliveryState.SENT for d in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"not sent after {timeout} s: {[(d.id, d.state, d.error) for d in rows]}")


def _set_when(page: Any, when: datetime) -> None:
    page.get_by_label("Date", exact=True).fill(f"{when:%Y-%m-%d}")
    page.get_by_label("Time", exact=True).fill(f"{when:%H:%M}")


@dataclass
class Served:
    """The console served on loopback beside the sandbox, with an invite waiting."""

    url: str
    runtime: Runtime
    invite: str  # the invite link's secret
    accounts: dict[str, Account]


@pytest.fixture
def served(engine: Engine, sandbox: SandboxHandle) -> Iterator[Served]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runtime = _runtime(engine, sandbox, base)
    ensure_campaign_accounts(runtime, sandbox.admin)
    now = datetime.now(UTC)
    with runtime.sessions() as session:
        session.add(Campaign(slug="fujitsu", title="Fujitsu reps", timezone=ZONE))
        link = users.invite(
            session,
            email="sam@example.org",
            role=Role.EDITOR,
            actor="cli:test",
            now=now,
            name="Sam",
        )
        session.commit()
        accounts = {a.platform: a for a in session.scalars(select(Account))}
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield Served(url, runtime, link.secret, accounts)


def _sign_in_from_invite(page: Any, served: Served) -> None:
    page.goto(f"{served.url}/console/invite/{served.invite}")
    page.get_by_label("Your name").fill("Sam")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Set my password").click()
    page.get_by_label("Email").fill("sam@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Calendar"))).to_be_visible()
    expect(page.get_by_text("times in Europe/London").first).to_be_visible()


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "laptop"])
def test_a_volunteer_composes_finds_edits_and_sees_posts_sent_in_a_browser(
    browser: Any, served: Served, sandbox: SandboxHandle, size: tuple[int, int]
) -> None:
    url, runtime, accounts = served.url, served.runtime, served.accounts
    check = Checked(size)
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    _sign_in_from_invite(page, served)

    # An X thread: "Add part" is a button that works without JavaScript.
    page.get_by_role("link", name="New post").first.click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()
    when = _minute_after(datetime.now(UTC) + timedelta(minutes=2))
    _set_when(page, when)
    page.get_by_label(f"{CAMPAIGN_PAGE_NAME} (Facebook Page)").uncheck()
    first = "1/ Ballot result: 87% voted to strike 🎉"
    page.get_by_label("Text", exact=True).fill(first)
    # The live counter asks the server, which counts the emoji 2.
    assert weighted_length(first) == len(first) + 1
    expect(page.locator("#count-x-1")).to_have_text(f"{280 - weighted_length(first)} left")
    page.get_by_role("button", name="Add part").click()
    page.get_by_label("Part 2 of 2").fill("2/ Turnout 71%, well over the 50% bar.")
    page.get_by_label("Link").fill(
        "https://www.union.example.org/ballot-result-2026?utm_source=x&utm_medium=social"
    )
    page.get_by_role("button", name="Check", exact=True).click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("union.example.org/ballot-resul…")
    expect(preview).not_to_contain_text("utm_source")
    check(page, "compose-thread")
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled fujitsu/")
    thread_id = int(page.url.rsplit("/", 1)[1])
    check(page, "post-scheduled")

    # A Facebook post, with a problem first: nothing is stored until it is fixed.
    page.goto(f"{url}/console/")
    page.get_by_role("link", name="New post").first.click()
    page.get_by_label(f"@{CAMPAIGN_X_HANDLE} on X").uncheck()
    _set_when(page, when)
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
    expect(page.locator("#facebook_text-error")).to_contain_text("no text for facebook")
    check(page, "compose-problem")
    page.get_by_label(re.compile("^Text for Facebook")).fill(
        "Demo tomorrow 8:30–10am outside Fujitsu's London HQ. Bring a flask!"
    )
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled fujitsu/")
    facebook_id = int(page.url.rsplit("/", 1)[1])
    with runtime.sessions() as session:
        assert session.scalar(select(Post.created_by).where(Post.id == facebook_id)) == (
            "sam@example.org"
        )

    # Both on the calendar, next up first.
    page.goto(f"{url}/console/")
    next_up = page.locator(".next-up")
    expect(next_up).to_contain_text("1/ Ballot result")
    expect(next_up).to_contain_text("Demo tomorrow 8:30")
    expect(next_up.locator(".entry").first).to_contain_text("scheduled")
    check(page, "calendar")
    page.get_by_role("link", name="Day", exact=True).click()
    check(page, "calendar-day")

    # Editing the Facebook post from its page.
    next_up.get_by_role("link", name=re.compile("Demo tomorrow")).click()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit post")).to_be_visible()
    page.get_by_label(re.compile("^Text for Facebook")).fill(
        "Demo tomorrow 8:30–10am outside Fujitsu's London HQ. Bring a flask and a friend!"
    )
    check(page, "compose-edit")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("status")).to_contain_text("Saved fujitsu/")
    expect(page.get_by_text("post.edit by sam@example.org")).to_be_visible()

    page.goto(f"{url}/console/posts")
    check(page, "posts")
    page.goto(f"{url}/console/posts/{thread_id}/cancel")
    expect(page.get_by_role("heading", name="Cancel this post?")).to_be_visible()
    check(page, "cancel-confirm")
    page.get_by_role("link", name="No, keep it").click()

    # The daemon sends both to the sandbox.
    ahead = runtime.ledger()
    deliverer = Deliverer(
        ahead,
        runtime.platforms,
        runtime.vault,
        RetryPolicy(),
        clock=lambda: datetime.now(UTC) + DAEMON_AHEAD,
    )
    daemon = Daemon(
        deliverer,
        ahead,
        runtime.lock(),
        poll_interval=0.2,
        clock=lambda: datetime.now(UTC) + DAEMON_AHEAD,
    )
    daemon.start()
    try:
        rows = _wait_sent(runtime, [thread_id, facebook_id])
    finally:
        daemon.stop()

    x_timeline = {p["id"]: p for p in sandbox.admin.posts("x", accounts["x"].platform_user_id)}
    facebook_timeline = {
        p["id"]: p for p in sandbox.admin.posts("facebook", accounts["facebook"].platform_user_id)
    }
    by_post = {d.post_id: d for d in rows}
    thread_ids = by_post[thread_id].platform_ids
    assert len(thread_ids) == 2 and set(thread_ids) <= set(x_timeline)
    assert x_timeline[thread_ids[1]]["reply_to"] == thread_ids[0]
    [facebook_post] = by_post[facebook_id].platform_ids
    assert "a friend!" in str(facebook_timeline[facebook_post])

    for post_id, delivery in (
        (thread_id, by_post[thread_id]),
        (facebook_id, by_post[facebook_id]),
    ):
        page.goto(f"{url}/console/posts/{post_id}")
        expect(page.locator(".post-state")).to_contain_text("sent")
        deliveries = page.locator("table.deliveries")
        expect(deliveries).to_contain_text("sent")
        expect(deliveries.get_by_role("link", name=re.compile("^See it on"))).to_have_attribute(
            "href", delivery.url
        )
        for platform_id in delivery.platform_ids:
            expect(deliveries).to_contain_text(platform_id)
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    check(page, "post-sent")
    page.goto(f"{url}/console/?date={when:%Y-%m-%d}")
    expect(page.locator(".day .entry-state").filter(has_text="sent")).to_have_count(2)
    check(page, "calendar-after")
    context.close()
    assert os.listdir(ARTIFACTS)


def test_the_composer_works_without_javascript(browser: Any, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    _sign_in_from_invite(page, served)
    page.goto(f"{served.url}/console/posts/new")
    page.get_by_label("Text", exact=True).fill("1/ Without any script")
    page.get_by_role("button", name="Add part").click()
    page.get_by_label("Part 2 of 2").fill("2/ " + "a" * 300)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#count-x-1")).to_have_text(
        f"{280 - weighted_length('1/ Without any script')} left"
    )
    expect(page.locator("#count-x-2")).to_have_text("303 of 280: 23 over")
    expect(page.locator("#x_part-2-error")).to_contain_text("shorten by 23")
    page.get_by_role("button", name="Remove part 2").click()
    expect(page.get_by_label("Part 2 of 2")).to_have_count(0)
    page.get_by_role("button", name="Schedule").click()
    expect(page.get_by_role("status")).to_contain_text("Scheduled fujitsu/")
    context.close()
