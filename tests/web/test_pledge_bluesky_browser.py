"""Support with Bluesky on a phone, in a real browser (Debian's Chromium through
Playwright), without JavaScript: the campaign pages and the sandbox's Bluesky sign-in
page over real HTTP, the real OAuth client between them. Screenshots go to
tests/artifacts/campaign/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.sandbox.testing import SandboxHandle
from bot.storage.models import Pledge
from tests.support.browser import (
    CAMPAIGN_ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
    snapshot,
)
from tests.support.web import serving_campaign

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: apt-get install chromium", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
expect = sync_api.expect
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle) -> Iterator[tuple[str, Any]]:
    message = {"bluesky": "Fujitsu: reinstate the sacked union reps now. #DefendTheUnion"}
    with serving_campaign(engine, sandbox, message=message) as served:
        yield served


def test_on_a_phone_without_javascript_a_supporter_pledges_with_their_bluesky_handle(
    browser: Any, site: tuple[str, Any], sandbox: SandboxHandle
) -> None:
    url, runtime = site
    assert sandbox.state is not None
    who = sandbox.state.bluesky.create_account("phone-rep", "a long pass phrase")
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto(f"{url}/c/fujitsu")
    page.get_by_role("link", name="Support with Bluesky").click()

    page.get_by_label("Your Bluesky handle").fill("nobody-here.bsky.social")
    page.get_by_role("button", name="Sign in with Bluesky to pledge").click()
    expect(page.get_by_role("alert")).to_contain_text("nobody-here.bsky.social")
    snapshot(page, "phone-bluesky-handle-not-found", CAMPAIGN_ARTIFACTS)
    page.get_by_label("Your Bluesky handle").fill(f"@{who.handle}")
    page.get_by_role("button", name="Sign in with Bluesky to pledge").click()

    # The sandbox's stand-in for bsky.social's sign-in page.
    expect(page.get_by_label("Handle")).to_have_value(who.handle)
    page.get_by_label("Password").fill("a long pass phrase")
    page.get_by_role("button", name="Sign in and allow").click()

    expect(page.get_by_role("heading", name="Thank you: your pledge is in")).to_be_visible()
    snapshot(page, "phone-bluesky-pledged", CAMPAIGN_ARTIFACTS)
    context.close()
    with runtime.sessions() as session:
        assert session.scalars(select(Pledge.platform)).all() == ["bluesky"]


def test_the_bluesky_step_and_its_error_are_accessible_on_a_phone(
    browser: Any, site: tuple[str, Any]
) -> None:
    url, _ = site
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True)
    page = context.new_page()  # axe-core runs as a script: this page has JavaScript
    page.goto(f"{url}/c/fujitsu/pledge/bluesky")
    assert serious_violations(page) == []
    page.get_by_label("Your Bluesky handle").fill("not a handle")
    page.get_by_role("button", name="Sign in with Bluesky to pledge").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a Bluesky handle")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert serious_violations(page) == []
    context.close()
