"""Alerts in a real browser (Playwright on Debian's Chromium): an admin sets where a
campaign's alerts go, a post fails, one email and one signed webhook call arrive, and the
inbox shows them. Phone and desktop screenshots; axe-core finds nothing serious."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from bot.alerts.channels.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from bot.alerts.grouping import GroupWindow
from bot.alerts.sending import SendPolicy
from bot.alerts.watcher import AlertPolicy, Watcher
from bot.console.roles import Role
from bot.pledges.mail import Mailer
from bot.storage.models import Delivery, DeliveryState
from bot.web.server import serving_web
from tests.support.alerting import SECRET, Mail, Receiver, running_receiver, running_smtp
from tests.support.console import PASSWORD, ConsoleHarness, console_runtime
from tests.support.factories import add_account, queue, spec

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}

if not CHROMIUM.exists() and os.geteuid() != 0:
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
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
def smtp() -> Iterator[Mail]:
    with running_smtp() as mail:
        yield mail


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


def look(page: Any, name: str) -> None:
    """Screenshots at phone and desktop width, and an axe-core check at each."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"alerts_{name}_{size}.png"), full_page=True)
        assert serious_violations(page) == [], f"{name} at {size}"


def test_an_admin_sets_alerts_in_the_browser_and_a_failed_post_reaches_email_and_webhook(
    browser: Any, engine: Engine, make_console: Any, smtp: Mail, receiver: Receiver
) -> None:
    runtime = console_runtime(
        engine, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port), SMTP_STARTTLS="off"
    )
    harness: ConsoleHarness = make_console(runtime)
    admin = harness.add_user("admin@example.org", Role.ADMIN)
    add_account(runtime.sessions, runtime.vault, "x", "union")
    queue(runtime.sessions, spec("Strike vote tonight at 7", campaign="demo"))
    watcher = Watcher(
        runtime.sessions,
        runtime.vault,
        Mailer(runtime.settings, timeout=2.0),
        base_url=runtime.settings.web_base_url,
        policy=AlertPolicy(
            window=GroupWindow(quiet=timedelta(0), max_wait=timedelta(0)),
            send=SendPolicy(timeout=2.0),
        ),
    )
    watcher.check()  # alerts are watched from here on

    with serving_web(runtime, host="127.0.0.1", port=0) as site:
        page = browser.new_page()
        page.goto(f"{site}/console/sign-in")
        page.get_by_label("Email").fill(admin)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{site}/console/alerts/settings/demo")
        page.get_by_label("a post was missed").uncheck()
        page.get_by_label("Email these addresses (one per line)").fill("organiser@example.org")
        page.get_by_label("Webhook URL").fill(receiver.url)
        page.get_by_label("Signing secret").fill(SECRET)
        page.get_by_role("button", name="Save alert settings").click()
        sync_api.expect(page.get_by_role("status")).to_contain_text(
            "Alert settings for demo saved."
        )
        look(page, "settings")

        time.sleep(0.01)
        with runtime.sessions() as session:
            session.execute(
                update(Delivery).values(
                    state=DeliveryState.FAILED,
                    error="401 Unauthorized",
                    error_kind="auth",
                    updated_at=datetime.now(UTC),
                )
            )
            session.commit()
        watcher.check()
        watcher.send()

        assert len(smtp.messages) == 1 and len(receiver.calls) == 1
        headers, body = receiver.calls[0]
        assert verify(
            SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER], now=time.time()
        )

        page.goto(f"{site}/console/alerts")
        link = page.get_by_role("link", name="1 post failed on X for demo: token rejected")
        sync_api.expect(link).to_be_visible()
        sync_api.expect(page.get_by_text("webhook: sent")).to_be_visible()
        look(page, "inbox")
        link.click()
        sync_api.expect(page.get_by_text("“Strike vote tonight at 7” on X @union")).to_be_visible()
        look(page, "show")
        page.close()
