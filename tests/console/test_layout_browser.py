"""Every console page a signed-in admin can open, in a real browser at 390x844 and
1280x800: nothing is wider than the screen (no sideways scrolling on a phone) and axe-core
finds no serious or critical problem. Pages come from console_routes(), so a page added
later is looked at too; screenshots go to tests/artifacts/console/layout-*.png."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.console.app import console_routes
from bot.console.roles import Role
from bot.people import audit
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import free_port
from bot.storage.models import Campaign
from bot.web.server import serving_web
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
)
from tests.support.console import PASSWORD, ConsoleHarness, console_runtime
from tests.support.console_posts import campaign_accounts, queued

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytest.importorskip("axe_playwright_python.sync_playwright", reason="pip install -e '.[dev]'")
pytestmark = pytest.mark.slow

_PARAM = re.compile(r"{([a-z_]+)(?::[a-z]+)?}")
# Long unbroken values, as real audit rows and posts have them.
LONG_LINK = "https://example.org/a-rather-long-campaign-page-address?utm_source=clarion-console"


def _pages(ids: dict[str, int]) -> list[str]:
    """Every GET page behind a role, its parameters filled with real ids."""
    found = []
    for r in console_routes():
        if r.role is None or "GET" not in (r.methods or set()):
            continue
        names = _PARAM.findall(r.path)
        if any(name not in ids for name in names):
            continue
        found.append("/console" + _PARAM.sub(lambda m: str(ids[m.group(1)]), r.path))
    return found


@pytest.fixture
def served(
    engine: Engine, make_console: Callable[[Runtime], ConsoleHarness]
) -> Iterator[tuple[str, list[str]]]:
    port = free_port()
    runtime = console_runtime(engine, WEB_BASE_URL=f"http://127.0.0.1:{port}")
    harness = make_console(runtime)
    accounts = campaign_accounts(harness)
    post_id = queued(
        harness,
        thread=("1/ Demo tomorrow at 8:30 outside the HQ", "2/ Bring a flask"),
        link=LONG_LINK,
    )
    harness.add_user("rosa.admin@example.org", Role.ADMIN, name="Rosa")
    with harness.sessions() as session:
        # The campaign picker is as wide as its longest title.
        session.add(
            Campaign(
                slug="reinstate",
                title="Reinstate our sacked rep: the petition",
                timezone="Europe/London",
            )
        )
        audit.record(
            session,
            actor="rosa.admin@example.org",
            action="schedule.apply",
            subject="schedule:a-long-file-name-for-the-autumn-campaign.yaml",
            after={"sha256": "ab" * 32, "created": [f"demo/{'x' * 60}"]},
        )
        session.commit()
    pages = _pages({"post_id": post_id, "account_id": accounts["x"]})
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url, pages


def _overflow(page: Any) -> list[str]:
    """Elements reaching past the right edge of the screen."""
    found: list[str] = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            // The inside of a closed <details> (the phone's menu) has boxes but is not shown.
            if (!el.checkVisibility()) continue;
            const box = el.getBoundingClientRect();
            if (box.width > 0 && box.right > width + 1) {
              const name = `${el.tagName.toLowerCase()}.${el.className}`;
              out.push(`${name} ends at ${Math.round(box.right)}`);
            }
          }
          return out.slice(0, 5);
        }"""
    )
    return found


def _small_targets(page: Any) -> list[str]:
    """Buttons and links of forms shorter than 44 px (WCAG 2.5.5), a thumb's width."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('main form button, main form a')]
          .filter(el => el.offsetParent !== null && !el.closest('[aria-hidden=true]'))
          .map(el => [el.textContent.trim(), el.getBoundingClientRect().height])
          .filter(([, height]) => height < 43.5)
          .map(([text, height]) => `"${text}" is ${Math.round(height)} px tall`)
          .slice(0, 5)"""
    )
    return found


def test_every_console_page_fits_a_phone_and_passes_axe(served: tuple[str, list[str]]) -> None:
    url, pages = served
    assert "/console/accounts" in pages and "/console/audit" in pages
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{url}/console/sign-in")
        page.get_by_label("Email").fill("rosa.admin@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/console/(\?.*)?$"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for path in pages:
            kind = page.request.get(url + path, max_redirects=0).headers.get("content-type", "")
            if "text/html" not in kind:
                continue  # a download (CSV, a schedule file), not a page
            for size, (width, height) in VIEWPORTS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.goto(url + path)
                name = re.sub(r"[^a-z0-9]+", "-", path.removeprefix("/console")).strip("-")
                page.screenshot(
                    path=str(ARTIFACTS / f"layout-{name or 'home'}-{size}.png"), full_page=True
                )
                problems += [f"{path} at {width}px: {o}" for o in _overflow(page)]
                problems += [f"{path} at {width}px: {t}" for t in _small_targets(page)]
                problems += [f"{path} at {width}px: {v}" for v in serious_violations(page)]
    assert not problems, "\n".join(problems)


def test_the_composers_groups_are_framed_apart_from_the_fields_above(
    served: tuple[str, list[str]],
) -> None:
    url, _ = served
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(f"{url}/console/sign-in")
        page.get_by_label("Email").fill("rosa.admin@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/console/(\?.*)?$"))
        page.goto(f"{url}/console/posts/new")
        for group in ("#when", "#to"):
            style = page.locator(group).evaluate(
                "el => [getComputedStyle(el).borderTopWidth, getComputedStyle(el).marginTop]"
            )
            assert style[0] != "0px" and style[1] != "0px", f"{group}: {style}"


def test_on_a_phone_the_top_bar_leaves_most_of_the_first_screen_to_the_page(
    served: tuple[str, list[str]],
) -> None:
    url, _ = served
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        page.goto(f"{url}/console/sign-in")
        page.get_by_label("Email").fill("rosa.admin@example.org")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(r"/console/(\?.*)?$"))
        page.goto(f"{url}/console/posts")
        bar = page.locator("header.bar").bounding_box()
        assert bar is not None and bar["height"] <= 844 / 4, bar
        page.get_by_text("Menu", exact=True).click()
        menu = page.get_by_role("navigation", name="Console menu")
        menu.get_by_role("link", name="Audit").click()
        page.wait_for_url(re.compile(r"/console/audit"))
