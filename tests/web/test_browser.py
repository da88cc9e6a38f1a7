"""End to end in a real browser: Playwright driving Debian's Chromium against the
campaign pages and the sandbox, both on loopback.

No browser is downloaded: Chromium comes from `apt-get install chromium`
(scripts/ensure-system-packages.sh, run by `make test`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.sandbox.testing import SandboxHandle, free_port
from bot.web.server import serving_web
from tests.support.web import add_campaign, make_runtime

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

if not CHROMIUM.exists() and os.geteuid() != 0:
    pytest.skip(
        "Debian's chromium is not installed and we are not root to install it: "
        "sudo apt-get install -y chromium (or run scripts/ensure-system-packages.sh)",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")

expect = sync_api.expect
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # `make test-sqlite` runs before `make test-postgres` installs system packages.
        script = Path(__file__).resolve().parents[2] / "scripts/ensure-system-packages.sh"
        subprocess.run([str(script)], check=True, timeout=600)
    assert CHROMIUM.exists(), "run scripts/ensure-system-packages.sh to install chromium"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle) -> Iterator[str]:
    port = free_port()
    runtime = make_runtime(engine, sandbox, f"http://127.0.0.1:{port}")
    add_campaign(runtime, goal=2)
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url


def _progress(page: Any, site: str) -> str:
    page.goto(f"{site}/c/fujitsu")
    # The page may be kept by the browser for a second or two (Cache-Control max-age,
    # stale-while-revalidate): a reload revalidates it, as a supporter's pull-down does.
    page.reload()
    value: str = page.locator("progress").get_attribute("value")
    return value


def _edit_and_withdraw(page: Any, site: str, wording: str) -> None:
    private = page.get_by_role("textbox", name="Your private link").input_value()
    assert private.startswith(f"{site}/w/")
    page.get_by_label("Your wording").fill(wording)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert wording in page.get_by_test_id("text").inner_text()

    assert _progress(page, site) == "1"
    page.goto(private)
    page.get_by_label("Yes, withdraw").check()
    page.get_by_role("button", name="Withdraw my pledge").click()
    expect(page.get_by_role("heading", name="Your pledge is withdrawn")).to_be_visible()
    assert _progress(page, site) == "0"


def test_a_supporter_pledges_with_x_edits_and_withdraws_in_a_browser(
    browser: Any, site: str
) -> None:
    page = browser.new_page()
    assert _progress(page, site) == "0"
    expect(page.get_by_text("0 of 2 supporters", exact=True)).to_be_visible()
    page.get_by_role("link", name="Support with X").click()
    page.get_by_role("button", name="Sign in with X to pledge").click()
    # the sandbox's stand-in for X's consent page
    page.get_by_label("…or a new handle").fill("browser_rep")
    page.get_by_role("button", name="Authorise app").click()
    expect(page.get_by_role("heading", name="Thank you: your pledge is in")).to_be_visible()
    assert page.get_by_test_id("handle").inner_text() == "@browser_rep"
    assert "Stand with the Fujitsu reps at 8:30" in page.get_by_test_id("text").inner_text()
    _edit_and_withdraw(page, site, "My own words for the Fujitsu reps")


def test_a_supporter_pledges_a_facebook_page_edits_and_withdraws_in_a_browser(
    browser: Any, site: str
) -> None:
    page = browser.new_page()
    page.goto(f"{site}/c/fujitsu")
    page.get_by_role("link", name="Support with a Facebook Page").click()
    page.get_by_role("button", name="Sign in with Facebook to pledge a Page").click()
    # the sandbox's stand-in for Facebook's Login dialog
    page.locator("input[name=new_user]").fill("Browser Person")
    page.locator("input[name=page_name]").fill("Browser Bakery")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", name="Which Page will you pledge?")).to_be_visible()
    page.get_by_label("Browser Bakery").check()
    page.get_by_role("button", name="Pledge the ticked Pages").click()
    expect(page.get_by_role("heading", name="Thank you: your pledge is in")).to_be_visible()
    assert page.get_by_test_id("handle").inner_text() == "Browser Bakery"
    _edit_and_withdraw(page, site, "Our bakery stands with the reps")


@pytest.fixture
def released_site(engine: Engine, sandbox: SandboxHandle) -> Iterator[str]:
    """A campaign whose release went out (one post published, one failed) and was read."""
    from datetime import UTC, datetime

    from starlette.testclient import TestClient

    from bot.engagement.poll import poller_for
    from bot.web.app import create_web_app
    from tests.support.web import TESTSERVER, Clock, released_with_one_failure

    # Pledged and released through the test client (its own base URL), then served.
    runtime = make_runtime(engine, sandbox, TESTSERVER)
    clock = Clock(datetime.now(UTC))
    client = TestClient(
        create_web_app(runtime, clock=clock), base_url=TESTSERVER, follow_redirects=False
    )
    released_with_one_failure(client, clock, runtime, sandbox)
    sandbox.admin.advance_clock(7 * 86400)
    assert poller_for(runtime).run("fujitsu", refresh=True).read == 1
    port = free_port()
    served = make_runtime(engine, sandbox, f"http://127.0.0.1:{port}")
    with serving_web(served, host="127.0.0.1", port=port) as url:
        yield url


def test_after_the_release_the_outcome_reads_as_tables_in_a_browser_without_javascript(
    browser: Any, released_site: str
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{released_site}/c/fujitsu")
    expect(page.get_by_role("heading", name="How far it went")).to_be_visible()
    posts = page.get_by_role("table", name="Supporters' posts, by platform")
    expect(posts.get_by_role("row", name="X 1 1 0 15,000")).to_be_visible()
    engagement = page.get_by_role("table", name="Engagement so far")
    likes = engagement.get_by_role("row", name="Likes and reactions").get_by_role("cell")
    assert int(likes.inner_text().replace(",", "")) > 0
    expect(page.get_by_test_id("last-updated")).to_contain_text("Last updated")
    context.close()
