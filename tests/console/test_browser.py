"""The console in a real browser (Playwright driving Debian's Chromium, on loopback):
the first admin accepts the invite `run` prints, signs in, invites an editor from the
People page, and the editor signs in. Every page is photographed at 390x844 and
1280x800 (tests/artifacts/console/) and checked with axe-core."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot.cli.users import console_banner
from bot.sandbox.testing import free_port
from bot.web.server import serving_web
from tests.support.console import console_runtime

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
SIZES = [(390, 844), (1280, 800)]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"

if not CHROMIUM.exists() and os.geteuid() != 0:
    pytest.skip(
        "Debian's chromium is not installed: sudo apt-get install -y chromium",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
axe_api = pytest.importorskip(
    "axe_playwright_python.sync_playwright", reason="pip install -e '.[dev]'"
)
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
def site(engine: Engine) -> Iterator[tuple[str, list[str]]]:
    port = free_port()
    runtime = console_runtime(engine, WEB_BASE_URL=f"http://127.0.0.1:{port}")
    banner = console_banner(runtime)  # what `make run` prints on its first start
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url, banner


def look(page: Any, name: str) -> None:
    """Photograph the page at both sizes and check it with axe-core: no serious or
    critical violation."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    axe = axe_api.Axe()
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}x{height}.png"), full_page=True)
        results = axe.run(page)
        bad = [
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{name} at {width}x{height}: {bad}"
    page.set_viewport_size({"width": 1280, "height": 800})


def test_an_admin_accepts_the_first_invite_and_invites_an_editor_who_signs_in(browser, site):
    url, banner = site
    invite = next(line.strip() for line in banner if "/console/invite/" in line)
    assert banner[0] == f"volunteer console: {url}/console/"

    admin = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    admin.goto(invite)
    expect(admin.get_by_role("heading", name="Welcome to Clarion")).to_be_visible()
    look(admin, "invite")
    admin.get_by_label("Your name").fill("Rosa Admin")
    admin.get_by_label("Password", exact=True).fill("short")
    admin.get_by_label("The same password again").fill("short")
    admin.get_by_role("button", name="Set my password").click()
    expect(admin.get_by_text("Use at least 12 characters (this one has 5).")).to_be_visible()
    look(admin, "invite-error")
    admin.get_by_label("Password", exact=True).fill("solidarity forever 1984")
    admin.get_by_label("The same password again").fill("solidarity forever 1984")
    admin.get_by_role("button", name="Set my password").click()

    expect(admin.get_by_text("Your password is set")).to_be_visible()
    look(admin, "sign-in")
    admin.get_by_label("Email").fill("admin@localhost")
    admin.get_by_label("Password").fill("solidarity forever 1984")
    admin.get_by_role("button", name="Sign in").click()
    expect(admin.get_by_role("heading", name=re.compile("^Calendar"))).to_be_visible()
    expect(admin.get_by_text("Clarion's scheduler is not running")).to_be_visible()
    admin.get_by_role("navigation", name="Console").get_by_role("link", name="People").click()
    expect(admin.get_by_role("heading", name="People")).to_be_visible()

    admin.get_by_label("Email").fill("sam@example.org")
    admin.get_by_label("Name (optional)").fill("Sam Editor")
    admin.get_by_label("Role", exact=True).select_option("editor")
    admin.get_by_role("button", name="Make an invite link").click()
    link = admin.locator("#the-link").inner_text()
    assert re.fullmatch(rf"{re.escape(url)}/console/invite/\S+", link)
    look(admin, "people")
    admin.set_viewport_size({"width": 390, "height": 844})
    admin.get_by_text("Menu", exact=True).click()
    expect(
        admin.get_by_role("navigation", name="Console menu").get_by_role("link", name="Audit")
    ).to_be_visible()
    admin.get_by_role("navigation", name="Console menu").get_by_role("link", name="Audit").click()
    expect(admin.get_by_role("cell", name="user.invite").first).to_be_visible()
    look(admin, "audit")

    editor = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    editor.goto(link)
    expect(editor.get_by_text("You are invited as editor")).to_be_visible()
    editor.get_by_label("Password", exact=True).fill("an editor's long phrase")
    editor.get_by_label("The same password again").fill("an editor's long phrase")
    editor.get_by_role("button", name="Set my password").click()
    editor.get_by_label("Email").fill("sam@example.org")
    editor.get_by_label("Password").fill("an editor's long phrase")
    editor.get_by_role("button", name="Sign in").click()
    expect(editor.get_by_role("heading", name=re.compile("^Calendar"))).to_be_visible()
    expect(editor.get_by_text("Sam Editor (editor)")).to_be_visible()
    look(editor, "editor-home")
    editor.goto(f"{url}/console/people")
    expect(editor.get_by_role("heading", name="You cannot open this page")).to_be_visible()
    editor.goto(f"{url}/console/account/2fa")
    expect(editor.locator("#totp-key")).to_be_visible()
    look(editor, "two-step")
    editor.get_by_role("button", name="Sign out").click()
    expect(editor.get_by_text("You are signed out.")).to_be_visible()
