"""In a real browser, at phone and laptop sizes: a viewer reads a campaign's report made
of real snapshots (posts published on the sandbox, read by the poller as its clock moves
on a week) and opens one post's report. Screenshots go to tests/artifacts/console/;
axe-core must find nothing serious or critical; nothing is wider than the phone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.storage.models import Campaign, Post
from bot.web.server import serving_web
from tests.support.browser import CHROMIUM, VIEWPORTS, chromium, serious_violations, snapshot
from tests.support.console import PASSWORD, console_runtime
from tests.support.engagement import Clock, World, make_platforms

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: sudo apt-get install -y chromium "
        "(or run scripts/ensure-system-packages.sh)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytest.importorskip("axe_playwright_python", reason="pip install -e '.[dev]'")
expect = sync_api.expect
pytestmark = pytest.mark.slow

RALLY = "Demo tomorrow 8:30 at Fujitsu HQ. Bring a flag! #DefendTheUnion"
BALLOT = "Ballot result: 87% voted yes on a 71% turnout. Thank you to every rep"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:  # real time: the test moves its clock on
        yield handle


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle, make_console) -> Iterator[tuple[str, Any]]:
    """The console serving a campaign whose posts were read at 1 h, 24 h and 7 d."""
    port = free_port()
    runtime = console_runtime(engine, WEB_BASE_URL=f"http://127.0.0.1:{port}").with_sandbox(
        sandbox.url, sandbox.admin.app()
    )
    harness = make_console(runtime)
    world = World(
        sandbox,
        runtime.sessions,
        runtime.vault,
        make_platforms(sandbox.url, sandbox.admin.app()),
        Clock(),
        slug="fujitsu",
    )
    with runtime.sessions() as session:
        campaign = Campaign(
            slug="fujitsu", title="Defend the union at Fujitsu", timezone="Europe/London"
        )
        session.add(campaign)
        session.commit()
        world.campaign_id = campaign.id
    x, page = world.x_account(followers=5000), world.facebook_page(followers=3000)
    rally = world.post("rally")
    world.send(rally, x, RALLY)
    world.send(rally, page, RALLY)
    poller = world.poller()
    world.advance(2 * 3600)
    ballot = world.post("ballot")  # two hours later: its snapshots fall between
    world.send(ballot, x, BALLOT)
    with runtime.sessions() as session:
        session.get(Post, rally).parts = {"x": [RALLY], "facebook": [RALLY]}  # type: ignore[union-attr]
        session.get(Post, ballot).parts = {"x": [BALLOT]}  # type: ignore[union-attr]
        session.commit()
    for seconds in (0, 3600, 23 * 3600, 6 * 86400):
        world.advance(seconds)
        poller.run()
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url, harness


def _sign_in(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _looked_at(page: Any, name: str, width: int) -> None:
    snapshot(page, name)
    assert serious_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, (
        f"{name} scrolls sideways"
    )


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_a_viewer_reads_a_campaigns_report_and_one_posts_growth(
    browser: Any, site: tuple[str, Any], size: str
) -> None:
    url, console = site
    email = console.add_user("viewer@example.org", Role.VIEWER)
    width, height = VIEWPORTS[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    _sign_in(page, url, email)
    if size == "phone":
        page.get_by_text("Menu").click()
        page.get_by_role("navigation", name="Console menu").get_by_role(
            "link", name="Reports"
        ).click()
    else:
        page.get_by_role("navigation", name="Console").get_by_role("link", name="Reports").click()
    page.get_by_role("link", name="Defend the union at Fujitsu").click()
    expect(page.get_by_role("heading", name="Report: Defend the union at Fujitsu")).to_be_visible()
    chart = page.get_by_role("img", name="Cumulative engagement over time")
    expect(chart).to_be_visible()
    # X: rally at 1 h, ballot at 1 h, rally at 24 h, ballot at 24 h, rally at 7 d,
    # ballot at 7 d...: one marker per snapshot moment, in both panels.
    assert chart.locator(".snapshot").count() >= 8
    assert chart.bounding_box()["width"] <= width
    expect(
        page.get_by_role(
            "link", name="“Ballot result: 87% voted yes on a 71% turnout…” · ", exact=False
        ).first
    ).to_be_visible()
    _looked_at(page, f"reports-campaign-{size}", width)
    page.get_by_text("The chart's numbers").click()
    expect(
        page.get_by_role("table", name="likes + reposts + replies + quotes at each snapshot")
    ).to_be_visible()

    page.get_by_role("link", name="“Demo tomorrow 8:30 at Fujitsu HQ", exact=False).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Demo tomorrow 8:30")
    expect(page.get_by_role("table", name="Growth by snapshot")).to_contain_text("after 7d")
    _looked_at(page, f"reports-post-{size}", width)
    page.close()
