"""An embargoed statement, in a real browser, from draft to the platform: an editor drafts
a thread that needs approval and is embargoed; a viewer sees only "Embargoed statement,
HH:MM"; an approver (a second person) reads it and approves it; the daemon sends it to
the sandbox at its minute and not before — on a phone and on a laptop screen, every page
checked by axe-core and photographed.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from bot.console.roles import Role
from bot.delivery.daemon import Daemon
from bot.delivery.deliverer import Deliverer, RetryPolicy
from bot.people import users
from bot.runtime.rehearsal import CAMPAIGN_PAGE_NAME, ensure_campaign_accounts
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.settings import load_settings
from bot.storage.models import Account, Campaign, Delivery, DeliveryState, Post, PostState
from bot.storage.vault import generate_key
from bot.web.server import serving_web
from tests.support.browser import ARGS, ARTIFACTS, CHROMIUM, serious_violations

ZONE = "Europe/London"
PASSWORD = "four good words for tests"
PARTS = ("1/ Ballot result: 92% voted to strike at Fujitsu.", "2/ Turnout 71%. Strike dates next.")
PEOPLE = {
    "editor@example.org": Role.EDITOR,
    "viewer@example.org": Role.VIEWER,
    "approver@example.org": Role.APPROVER,
}

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed: sudo apt-get install -y chromium",
                allow_module_level=True)  # fmt: skip

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytest.importorskip("axe_playwright_python.sync_playwright")
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


@dataclass
class Served:
    url: str
    runtime: Runtime
    x_account: Account
    sandbox: SandboxHandle


@pytest.fixture
def served(engine: Engine) -> Iterator[Served]:
    with running_sandbox() as sandbox:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = load_settings(
            None,
            environ={
                "DATABASE_URL": str(engine.url),
                "TOKEN_ENCRYPTION_KEYS": generate_key(),
                "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
                "WEB_BASE_URL": base,
                "TIMEZONE": ZONE,
            },
        )
        runtime = Runtime(settings, engine).with_sandbox(sandbox.url, sandbox.admin.app())
        ensure_campaign_accounts(runtime, sandbox.admin)
        now = datetime.now(UTC)
        with runtime.sessions() as session:
            session.add(Campaign(slug="ballot", title="Ballot", timezone=ZONE))
            for email, role in PEOPLE.items():
                link = users.invite(
                    session, email=email, role=role, actor="cli:test", now=now, name=role.title()
                )
                session.commit()
                users.accept_link(session, link.secret, password=PASSWORD, name="", now=now)
                session.commit()
            x_account = session.scalars(select(Account).where(Account.platform == "x")).one()
        with serving_web(runtime, host="127.0.0.1", port=port) as url:
            yield Served(url, runtime, x_account, sandbox)


class Checked:
    """axe-core on the page (no serious or critical finding), then its screenshot."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.size = size
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, page: Any, name: str) -> None:
        bad = serious_violations(page)
        assert not bad, f"{name}: {bad}"
        width, height = self.size
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"), full_page=True)


def _signed_in(browser: Any, served: Served, email: str, size: tuple[int, int]) -> Any:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(f"{served.url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("^Calendar"))).to_be_visible()
    return page


def _x_posts(served: Served) -> list[dict[str, Any]]:
    return list(served.sandbox.admin.posts("x", served.x_account.platform_user_id))


@pytest.mark.parametrize("size", [(390, 844), (1280, 800)], ids=["phone", "desktop"])
def test_an_embargoed_statement_is_approved_by_a_second_person_and_goes_out_at_its_minute(
    browser: Any, served: Served, size: tuple[int, int]
) -> None:
    check = Checked(size)
    url, runtime = served.url, served.runtime
    local = datetime.now(UTC).astimezone(ZoneInfo(ZONE))
    when = local.replace(second=0, microsecond=0) + timedelta(minutes=3)
    shown = f"Embargoed statement, {when:%H:%M}"

    # The editor drafts the thread: needs approval, embargoed.
    editor = _signed_in(browser, served, "editor@example.org", size)
    editor.goto(f"{url}/console/posts/new")
    editor.get_by_label("Date", exact=True).fill(f"{when:%Y-%m-%d}")
    editor.get_by_label("Time", exact=True).fill(f"{when:%H:%M}")
    editor.get_by_label(f"{CAMPAIGN_PAGE_NAME} (Facebook Page)").uncheck()
    editor.get_by_label("Text", exact=True).fill(PARTS[0])
    editor.get_by_role("button", name="Add part").click()
    editor.get_by_label("Part 2 of 2").fill(PARTS[1])
    editor.get_by_label("Needs approval by a second person").check()
    editor.get_by_label("Embargoed until its time").check()
    check(editor, "approval-compose")
    editor.get_by_role("button", name="Schedule").click()
    expect(editor.get_by_role("status")).to_contain_text("awaits approval")
    post_id = int(editor.url.rsplit("/", 1)[1])
    expect(editor.locator(".post-state")).to_contain_text("awaiting approval")
    expect(editor.get_by_role("heading", level=1)).to_have_text(PARTS[0])  # its author reads it
    check(editor, "approval-post-author")

    # A viewer sees only "Embargoed statement, HH:MM", on the calendar and the post.
    viewer = _signed_in(browser, served, "viewer@example.org", size)
    expect(viewer.locator(".next-up")).to_contain_text(shown)
    assert "92%" not in viewer.content()
    check(viewer, "approval-calendar-viewer")
    viewer.goto(f"{url}/console/posts/{post_id}")
    expect(viewer.get_by_role("heading", level=1)).to_have_text(shown)
    assert "92%" not in viewer.content() and "Turnout" not in viewer.content()
    check(viewer, "approval-post-viewer")

    # The approver, a second person, reads it in the queue and approves it.
    approver = _signed_in(browser, served, "approver@example.org", size)
    if size[0] < 600:  # the menu folds on a phone
        approver.locator("details.menu-narrow summary").click()
    approver.get_by_role("link", name="Approvals").locator("visible=true").first.click()
    queue = approver.locator(f"#post-{post_id}")
    expect(queue).to_contain_text(PARTS[0])
    expect(queue).to_contain_text("embargoed")
    check(approver, "approval-queue")
    queue.get_by_role("button", name=re.compile("^Approve")).click()
    expect(approver.get_by_role("status")).to_contain_text("Approved ballot/")
    with runtime.sessions() as session:
        assert session.get(Post, post_id).state == PostState.SCHEDULED
    check(approver, "approval-queue-empty")

    # The daemon: its clock 4 s short of the minute. Nothing goes out before it.
    offset = when - timedelta(seconds=4) - datetime.now(UTC)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    ledger = runtime.ledger()
    daemon = Daemon(
        Deliverer(ledger, runtime.platforms, runtime.vault, RetryPolicy(), clock=clock),
        ledger,
        runtime.lock(),
        poll_interval=0.2,
        clock=clock,
    )
    daemon.start()
    try:
        time.sleep(2)
        assert clock() < when
        assert _x_posts(served) == []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with runtime.sessions() as session:
                delivery = session.scalars(
                    select(Delivery).where(Delivery.post_id == post_id)
                ).one()
            if delivery.state == DeliveryState.SENT:
                break
            time.sleep(0.2)
    finally:
        daemon.stop()
    assert delivery.state == DeliveryState.SENT, delivery.error
    assert delivery.sending_at is not None and delivery.sending_at >= when
    sent = _x_posts(served)
    assert sorted(p["text"] for p in sent) == sorted(PARTS)  # exactly one per part
    assert set(delivery.platform_ids) == {p["id"] for p in sent}

    approver.goto(f"{url}/console/posts/{post_id}")
    expect(approver.locator(".post-state")).to_contain_text("sent")
    check(approver, "approval-post-sent")
    for page in (editor, viewer, approver):
        page.context.close()
