"""The supporter's first minute on a phone, in a real browser (Debian's Chromium through
Playwright) against the campaign pages and the sandbox, both on loopback: the Support
buttons on the first screen, nothing wider than the screen, the copy button and share
links after pledging, the outcome's tables inside their cards; a laptop too; axe clean.
Screenshots go to tests/artifacts/campaign/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.sandbox.testing import SandboxHandle, free_port
from bot.web.app import create_web_app
from bot.web.server import serving_web
from tests.support.browser import (
    CAMPAIGN_ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
    snapshot,
)
from tests.support.web import (
    TESTSERVER,
    Clock,
    add_campaign,
    make_runtime,
    released_with_one_failure,
)

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: apt-get install chromium", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
expect = sync_api.expect
pytestmark = pytest.mark.slow

DESCRIPTION = (
    "Fujitsu has dismissed two union reps for organising a ballot. Stand with them: one "
    "message from hundreds of accounts at the same moment, when the tribunal opens."
)
SUPPORT = ("Support with X", "Support with a Facebook Page")

# Elements whose right edge passes the viewport's, and the page's scroll width: a phone
# that scrolls sideways has something too wide.
TOO_WIDE = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 0.5) {  // the skip link hides off the left edge
      const name = el.tagName.toLowerCase() + (el.className ? "." + el.className : "");
      wide.push(name + " " + Math.round(box.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, width, wide};
}"""
# Each outcome table against the card it sits in.
TABLES_IN_CARDS = """() => Array.from(document.querySelectorAll("table.figures")).map(t => {
  const card = t.closest(".card").getBoundingClientRect();
  const box = t.getBoundingClientRect();
  const wrap = t.parentElement;
  return {left: box.left - card.left, right: card.right - box.right,
          scroll: wrap.scrollWidth - wrap.clientWidth};
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle) -> Iterator[str]:
    port = free_port()
    runtime = make_runtime(engine, sandbox, f"http://127.0.0.1:{port}")
    add_campaign(
        runtime,
        goal=200,
        description=DESCRIPTION,
        link="https://www.union.org.uk/campaigns/fujitsu-reps-victimisation",
        message={
            "x": "Fujitsu: reinstate the sacked union reps now. #DefendTheUnion",
            "facebook": "Fujitsu has sacked two union reps for organising. Stand with them.",
        },
    )
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url


def _phone(browser: Any) -> Any:
    width, height = VIEWPORTS["phone"]
    return browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        permissions=["clipboard-read", "clipboard-write"],
    )


def _fits(page: Any) -> None:
    measured = page.evaluate(TOO_WIDE)
    assert measured["scroll"] <= measured["width"], measured
    assert measured["wide"] == [], measured["wide"]


def test_on_a_phone_the_support_buttons_are_on_the_first_screen(browser: Any, site: str) -> None:
    context = _phone(browser)
    page = context.new_page()
    page.goto(f"{site}/c/fujitsu")
    for name in SUPPORT:
        box = page.get_by_role("link", name=name).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, (name, box)
        assert box["height"] >= 44  # a thumb's tap target (WCAG 2.5.5)
    _fits(page)
    assert serious_violations(page) == []
    snapshot(page, "phone-campaign", CAMPAIGN_ARTIFACTS)
    page.screenshot(path=str(CAMPAIGN_ARTIFACTS / "phone-campaign-first-screen.png"))
    context.close()


def test_on_a_phone_a_supporter_pledges_then_copies_the_link_and_sees_share_buttons(
    browser: Any, site: str
) -> None:
    context = _phone(browser)
    page = context.new_page()
    page.goto(f"{site}/c/fujitsu")
    page.get_by_role("link", name="Support with X").click()
    _fits(page)
    assert serious_violations(page) == []
    snapshot(page, "phone-support-step", CAMPAIGN_ARTIFACTS)
    page.get_by_role("button", name="Sign in with X to pledge").click()
    page.get_by_label("…or a new handle").fill("phone_rep")
    page.get_by_role("button", name="Authorise app").click()
    expect(page.get_by_role("heading", name="Thank you: your pledge is in")).to_be_visible()
    copy = page.get_by_role("button", name="Copy link").first
    expect(copy).to_be_visible()
    copy.click()
    expect(page.get_by_role("status").filter(has_text="Copied.")).to_be_visible()
    private = page.get_by_role("textbox", name="Your private link").input_value()
    assert page.evaluate("navigator.clipboard.readText()") == private
    share = page.get_by_test_id("share")
    for name in ("X", "Facebook", "Bluesky", "Mastodon", "WhatsApp"):
        expect(share.get_by_role("link", name=f"Share on {name}")).to_be_visible()
    expect(share.get_by_role("link", name="Share by email")).to_be_visible()
    _fits(page)
    assert serious_violations(page) == []
    snapshot(page, "phone-pledged", CAMPAIGN_ARTIFACTS)
    context.close()


def test_without_javascript_the_private_link_is_there_to_select_and_no_dead_button_shows(
    browser: Any, site: str
) -> None:
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(
        viewport={"width": width, "height": height}, java_script_enabled=False
    )
    page = context.new_page()
    page.goto(f"{site}/c/fujitsu")
    page.get_by_role("link", name="Support with X").click()
    page.get_by_role("button", name="Sign in with X to pledge").click()
    page.get_by_label("…or a new handle").fill("nojs_rep")
    page.get_by_role("button", name="Authorise app").click()
    box = page.get_by_role("textbox", name="Your private link")
    assert box.input_value().startswith(f"{site}/w/")
    expect(page.get_by_role("button", name="Copy link")).to_have_count(0)
    context.close()


def test_on_a_laptop_the_support_buttons_are_on_the_first_screen_too(
    browser: Any, site: str
) -> None:
    width, height = VIEWPORTS["desktop"]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{site}/c/fujitsu")
    for name in SUPPORT:
        box = page.get_by_role("link", name=name).bounding_box()
        assert box is not None and box["y"] + box["height"] <= height, (name, box)
    _fits(page)
    assert serious_violations(page) == []
    snapshot(page, "desktop-campaign", CAMPAIGN_ARTIFACTS)
    context.close()


@pytest.fixture
def released_site(engine: Engine, sandbox: SandboxHandle) -> Iterator[str]:
    """A release that went out (one post published, one failed), engagement read."""
    from bot.engagement.poll import poller_for

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


def test_on_a_phone_the_outcome_tables_fit_inside_their_cards(
    browser: Any, released_site: str
) -> None:
    context = _phone(browser)
    page = context.new_page()
    page.goto(f"{released_site}/c/fujitsu")
    expect(page.get_by_role("heading", name="How far it went")).to_be_visible()
    tables = page.evaluate(TABLES_IN_CARDS)
    assert len(tables) == 2
    for table in tables:
        assert table["left"] >= 0 and table["right"] >= 0 and table["scroll"] == 0, table
    _fits(page)
    assert serious_violations(page) == []
    snapshot(page, "phone-released", CAMPAIGN_ARTIFACTS)
    context.close()
