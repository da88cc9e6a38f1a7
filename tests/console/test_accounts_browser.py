"""In a real browser (Debian's Chromium through Playwright) on a phone: an admin connects
the campaign's Mastodon account without JavaScript (the console, the sandbox's authorize
page and back, over real HTTP), and a refused Bluesky app password is said beside the
field; axe-core finds nothing serious or critical. Screenshots go to
tests/artifacts/console/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.storage.models import Account
from bot.web.server import serving_web
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
    snapshot,
)
from tests.support.console import console_runtime

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: sudo apt-get install -y chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytest.importorskip("axe_playwright_python", reason="pip install -e '.[dev]'")
expect = sync_api.expect
pytestmark = pytest.mark.slow

PASSWORD = "a long admin passphrase"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle, make_console: Any) -> Iterator[tuple[str, Any]]:
    port = free_port()
    runtime = console_runtime(engine, WEB_BASE_URL=f"http://127.0.0.1:{port}").with_sandbox(
        sandbox.url, sandbox.admin.app()
    )
    make_console(runtime).add_user("admin@example.org", Role.ADMIN, password=PASSWORD)
    with serving_web(runtime, host="127.0.0.1", port=port) as url, chromium() as browser:
        yield url, runtime, browser


def _signed_in(browser: Any, url: str, *, javascript: bool) -> tuple[Any, Any]:
    width, height = VIEWPORTS["phone"]
    context = browser.new_context(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        java_script_enabled=javascript,
    )
    page = context.new_page()
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill("admin@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.goto(f"{url}/console/accounts")
    return context, page


def test_on_a_phone_without_javascript_an_admin_connects_the_campaigns_mastodon_account(
    site: tuple[str, Any, Any], sandbox: SandboxHandle
) -> None:
    url, runtime, browser = site
    sandbox.admin.create_mastodon_account("hq.social", "unionhq", followers=900)
    context, page = _signed_in(browser, url, javascript=False)
    page.get_by_label("Server").fill("hq.social")
    page.get_by_role("button", name="Connect a Mastodon account").click()
    # The "Continue to" page goes on by itself (meta refresh); the link is there too.
    page.get_by_label("Username").fill("unionhq")
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text("Connected the Mastodon account @unionhq@hq.social.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"][0]
    snapshot(page, "phone-accounts-mastodon-connected", ARTIFACTS)
    context.close()
    with runtime.sessions() as session:
        assert session.scalars(select(Account.handle)).all() == ["unionhq@hq.social"]


def test_a_refused_bluesky_app_password_is_said_beside_the_field_and_the_page_is_accessible(
    site: tuple[str, Any, Any], sandbox: SandboxHandle
) -> None:
    url, runtime, browser = site
    made = sandbox.admin.create_bluesky_account("phone-union", password=APP_PASSWORD)
    context, page = _signed_in(browser, url, javascript=True)  # axe-core is a script
    assert serious_violations(page) == []
    page.get_by_label("Handle").fill(made["handle"])
    page.get_by_label("App password").fill("wrong-wrong-wrong-wrong")
    page.get_by_role("button", name="Connect a Bluesky account").click()
    expect(page.get_by_role("alert")).to_contain_text("Bluesky refused the sign-in")
    expect(page.get_by_label("App password")).to_have_value("")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORTS["phone"][0]
    assert serious_violations(page) == []
    snapshot(page, "phone-accounts-bluesky-refused", ARTIFACTS)
    context.close()
    with runtime.sessions() as session:
        assert session.scalars(select(Account)).all() == []
