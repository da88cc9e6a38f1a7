"""In a real browser, at phone and laptop sizes: an editor pastes a schedule file, reads
the dry run and applies it; an admin connects the campaign's X account on the sandbox's
consent page. Screenshots go to tests/artifacts/console/; axe-core must find nothing
serious or critical on any page."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.storage.models import Account, Post
from bot.web.server import serving_web
from tests.support.browser import CHROMIUM, VIEWPORTS, chromium, serious_violations, snapshot
from tests.support.console import PASSWORD, console_runtime
from tests.support.factories import add_account

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

LATER = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")
SCHEDULE = f"""\
campaign: fujitsu
timezone: Europe/London
posts:
  - id: demo-eve
    at: {LATER} 18:00
    to: [x, facebook]
    text: "Demo tomorrow 8:30 at Fujitsu HQ. Bring a flag! #DefendTheUnion"
    link: https://union.example/fujitsu-demo
  - id: ballot
    at: {LATER} 10:00
    to: [x]
    thread:
      - "1/ Ballot result: 87% voted yes on a 71% turnout"
      - "2/ Thank you to every rep who knocked on doors"
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def site(engine: Engine, sandbox: SandboxHandle, make_console) -> Iterator[tuple[str, Any]]:
    port = free_port()
    runtime = console_runtime(engine, WEB_BASE_URL=f"http://127.0.0.1:{port}").with_sandbox(
        sandbox.url, sandbox.admin.app()
    )
    harness = make_console(runtime)
    with serving_web(runtime, host="127.0.0.1", port=port) as url:
        yield url, harness


def _page(browser: Any, size: str) -> Any:
    width, height = VIEWPORTS[size]
    return browser.new_page(viewport={"width": width, "height": height})


def _sign_in(page: Any, url: str, email: str) -> None:
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def _looked_at(page: Any, name: str) -> None:
    snapshot(page, name)
    assert serious_violations(page) == [], name


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_editor_pastes_a_schedule_file_reads_the_dry_run_and_applies_it(
    browser: Any, site: tuple[str, Any], size: str
) -> None:
    url, console = site
    add_account(console.runtime.sessions, console.runtime.vault, "x", "union")
    add_account(console.runtime.sessions, console.runtime.vault, "facebook", "union-page")
    email = console.add_user("editor@example.org", Role.EDITOR)
    page = _page(browser, size)
    _sign_in(page, url, email)
    page.goto(f"{url}/console/schedules")
    _looked_at(page, f"schedules-{size}")

    # A first try with a mistake: the problem is named beside its line.
    page.get_by_label("or paste it here").fill(SCHEDULE.replace("10:00", "10 o'clock"))
    page.get_by_role("button", name="Check (dry run)").click()
    expect(page.get_by_role("heading", name="1 problem: nothing can be stored")).to_be_visible()
    expect(page.get_by_role("link", name="Line 10")).to_be_visible()
    _looked_at(page, f"schedules-problems-{size}")

    page.get_by_label("Fix it here and check again").fill(SCHEDULE)
    page.get_by_role("button", name="Check again (dry run)").click()
    expect(page.get_by_role("heading", name="If you apply it")).to_be_visible()
    expect(page.get_by_text("Created: 2")).to_be_visible()
    _looked_at(page, f"schedules-dry-run-{size}")
    with console.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0

    page.get_by_role("button", name="Apply: store these changes").click()
    expect(page.get_by_role("status")).to_have_text(
        "Applied pasted text: 2 created, 0 updated, 0 unchanged."
    )
    _looked_at(page, f"schedules-applied-{size}")
    with console.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 2
    page.close()


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_admin_connects_the_campaigns_x_account_on_the_consent_page(
    browser: Any, site: tuple[str, Any], size: str
) -> None:
    url, console = site
    email = console.add_user("admin@example.org", Role.ADMIN)
    page = _page(browser, size)
    _sign_in(page, url, email)
    page.goto(f"{url}/console/accounts")
    _looked_at(page, f"accounts-empty-{size}")
    page.get_by_role("button", name="Connect an X account").click()
    # the sandbox's stand-in for X's consent page
    page.get_by_label("…or a new handle").fill("union_hq")
    page.get_by_role("button", name="Authorise app").click()
    expect(page.get_by_role("status")).to_have_text("Connected the X account @union_hq.")
    card = page.get_by_role("listitem").filter(has=page.get_by_role("heading", name="X @union_hq"))
    expect(card).to_contain_text("working")
    _looked_at(page, f"accounts-connected-{size}")
    with console.sessions() as session:
        [account] = session.scalars(select(Account))
    assert account.handle == "union_hq" and account.owner_kind == "campaign"
    page.goto(f"{url}/console/accounts/{account.id}/disconnect")
    _looked_at(page, f"accounts-disconnect-{size}")
    page.close()
