"""The supporter's first minute on a phone, in a real browser (Debian's Chromium through
Playwright) against the campaign pages and the sandbox, both on loopback: the Support
buttons on the first screen, nothing wider than the screen, the copy button and share
links after pledging, the outcome's tables inside their cards; a laptop too; axe clean.
Screenshots go to tests/artifacts/campaign/."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.sandbox.testing import SandboxHandle, free_port
from bot.web.app import create_web_app
from bot.web.campaign import PLATFORM_NAMES
from bot.web.server import serving_web
from tests.support.browser import (
    CAMPAIGN_ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
    snapshot,
)
from tests.support.outcome import FOUR_NETWORKS, MESSAGE, Cells, released_on_four_networks
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
SUPPORT = (
    "Support with X",
    "Support with a Facebook Page",
    "Support with Bluesky",
    "Support with Mastodon",
)

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
# Every caption and cell of the outcome's tables whose box passes its card's edge (a
# cell can stick out of a table that itself fits).
CELLS_OUT_OF_CARDS = """() => Array.from(document.querySelectorAll(
    "table.figures caption, table.figures th, table.figures td")).filter(cell => {
  const card = cell.closest(".card").getBoundingClientRect();
  const box = cell.getBoundingClientRect();
  return box.width && (box.left < card.left - 0.5 || box.right > card.right + 0.5);
}).map(cell => cell.tagName.toLowerCase() + " " + JSON.stringify(cell.textContent.trim()))"""


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
        message=MESSAGE,  # all four networks: four Support buttons
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


TABLE_ROLES = ("table", "row", "columnheader", "rowheader", "cell")


@pytest.fixture
def four_network_site(engine: Engine, sandbox: SandboxHandle) -> Iterator[str]:
    """Three releases on all four networks, one for each kind of widest engagement cell:
    tens of millions, "not available", estimates with their margins; reach in billions."""
    port = free_port()
    runtime = make_runtime(engine, sandbox, f"http://127.0.0.1:{port}")
    for cells in Cells:
        released_on_four_networks(runtime, f"fujitsu-{cells}", cells)
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url


def _table_roles(page: Any) -> Counter[str]:
    """The table roles in Chromium's own accessibility tree (what a screen reader is
    given), which CSS display changes could drop, unlike the DOM axe-core checks."""
    nodes = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")["nodes"]
    roles = Counter(n.get("role", {}).get("value") for n in nodes if not n.get("ignored"))
    return Counter({role: roles[role] for role in TABLE_ROLES})


def _outcome_fits(page: Any, width: int) -> None:
    expect(page.get_by_role("heading", name="How far it went")).to_be_visible()
    engagement = page.get_by_role("table", name="Engagement so far")
    for platform in FOUR_NETWORKS:  # a column (or, folded, a label) for each network
        expect(engagement.get_by_text(PLATFORM_NAMES[platform]).first).to_be_attached()
    tables = page.evaluate(TABLES_IN_CARDS)
    assert len(tables) == 2
    for table in tables:
        assert table["left"] >= 0 and table["right"] >= 0 and table["scroll"] == 0, table
    assert page.evaluate(CELLS_OUT_OF_CARDS) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _fits(page)
    assert serious_violations(page) == []
    # Both tables, each heading and figure still a header or a cell: 5 + 6 column
    # headings, 4 networks and the total, 5 metrics; 5 x 4 + 5 x 5 figures.
    assert _table_roles(page) == Counter(
        {"table": 2, "row": 12, "columnheader": 11, "rowheader": 10, "cell": 45}
    )


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_the_outcome_tables_of_a_release_on_four_networks_fit_their_cards_whatever_they_say(
    browser: Any, four_network_site: str, size: str
) -> None:
    width, height = VIEWPORTS[size]
    context = (
        _phone(browser)
        if size == "phone"
        else browser.new_context(viewport={"width": width, "height": height})
    )
    page = context.new_page()
    for cells in Cells:
        page.goto(f"{four_network_site}/c/fujitsu-{cells}")
        _outcome_fits(page, width)
        snapshot(page, f"{size}-released-four-networks-{cells}", CAMPAIGN_ARTIFACTS)
    context.close()
