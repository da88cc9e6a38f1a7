"""Support with Mastodon on a phone, in a real browser (Debian's Chromium through
Playwright), without JavaScript: the campaign pages and the sandbox's Mastodon authorize
page over real HTTP. Screenshots go to tests/artifacts/campaign/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.sandbox.testing import SandboxHandle
from bot.storage.models import Account, Pledge
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
    message = {"mastodon": "Fujitsu: reinstate the sacked union reps now. #DefendTheUnion"}
    with serving_campaign(engine, sandbox, message=message) as served:
        yield served


def test_on_a_phone_without_javascript_a_supporter_pledges_on_their_mastodon_server(
    browser: Any, site: tuple[str, Any], sandbox: SandboxHandle
) -> None:
    url, runtime = site
    sandbox.admin.create_mastodon_account("phone.social", "phonerep", followers=250)
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )
    page = context.new_page()
    page.goto(f"{url}/c/fujitsu")
    page.get_by_role("link", name="Support with Mastodon").click()
    page.get_by_label("Your Mastodon server").fill("@phonerep@Phone.Social")
    snapshot(page, "phone-mastodon-server", CAMPAIGN_ARTIFACTS)
    page.get_by_role("button", name="Sign in with Mastodon to pledge").click()

    # The sandbox's stand-in for the server's authorize page.
    page.get_by_label("Username").fill("phonerep")
    page.get_by_role("button", name="Authorize").click()

    expect(page.get_by_role("heading", name="Thank you: your pledge is in")).to_be_visible()
    # The link, tagged with its campaign parameters, is longer than a phone is wide.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    snapshot(page, "phone-mastodon-pledged", CAMPAIGN_ARTIFACTS)
    context.close()
    with runtime.sessions() as session:
        pledged = session.execute(
            select(Pledge.platform, Account.handle).join(Account, Pledge.account_id == Account.id)
        ).all()
    assert pledged == [("mastodon", "phonerep@phone.social")]


def test_the_mastodon_step_is_accessible_on_a_phone(browser: Any, site: tuple[str, Any]) -> None:
    url, _ = site
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(viewport={"width": width, "height": height}, is_mobile=True)
    page = context.new_page()  # axe-core runs as a script: this page has JavaScript
    page.goto(f"{url}/c/fujitsu/pledge/mastodon")
    assert serious_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
