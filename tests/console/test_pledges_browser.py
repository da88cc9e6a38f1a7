"""In a real browser: an approver watches a 2,000-pledge release go out on the live status
page (server-sent events, two viewers sharing one read a second), stops it halfway from
the console, and the ledger and the sandbox agree exactly on what went out. The campaign
page, its release check and the status page are looked at on a phone and a laptop;
axe-core finds nothing serious or critical."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot.console.pledges import feed_of
from bot.console.roles import Role
from bot.sandbox.testing import SandboxHandle, free_port, running_sandbox
from bot.storage.models import AuditEntry, PledgeCampaignState
from bot.web.server import serving_web
from tests.support.browser import (
    ARTIFACTS,
    CHROMIUM,
    VIEWPORTS,
    chromium,
    serious_violations,
    snapshot,
)
from tests.support.pledge_release import (
    daemon_running,
    ledger_against_sandbox,
    release_in,
    sandbox_runtime,
    seeded_campaign,
    wait_for,
)

if not CHROMIUM.exists():
    pytest.skip(
        "Debian's chromium is not installed: sudo apt-get install -y chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
pytest.importorskip("axe_playwright_python", reason="pip install -e '.[dev]'")
expect = sync_api.expect
pytestmark = pytest.mark.slow

PASSWORD = "a long approver passphrase"
X_PLEDGES, FACEBOOK_PLEDGES = 1600, 400
TOTAL = X_PLEDGES + FACEBOOK_PLEDGES


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def _looked_at(page: Any, name: str) -> None:
    snapshot(page, name)
    assert serious_violations(page) == [], name


def _sign_in(browser: Any, url: str, size: str, email: str) -> Any:
    width, height = VIEWPORTS[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def _sent_on(page: Any) -> int:
    return int(page.locator('[data-field="sent"]').inner_text())


@pytest.mark.timeout(180)
def test_an_approver_stops_a_2000_pledge_release_halfway_and_the_ledger_and_sandbox_agree(
    engine: Engine, database_url: str, sandbox: SandboxHandle, make_console: Any
) -> None:
    admin = sandbox.admin
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runtime = sandbox_runtime(
        engine,
        database_url,
        sandbox.url,
        admin,
        WEB_BASE_URL=url,
        WEB_SECRET_KEY="test-web-secret-key-0123456789abcdef",
        DELIVERY_CONCURRENCY="16",
    )
    console = make_console(runtime)
    email = console.add_user("approver@example.org", Role.APPROVER, password=PASSWORD)
    admin.set_rate_limits(x_posts_per_app=100_000, reset_counters=True)
    # Spread over a minute, so that halfway is half a minute in.
    run, old_posts = seeded_campaign(
        runtime, admin, x=X_PLEDGES, facebook=FACEBOOK_PLEDGES, window=1
    )
    admin.set_latency(100)
    with serving_web(runtime, host="127.0.0.1", port=port), chromium() as browser:
        desk = _sign_in(browser, url, "desktop", email)
        phone = _sign_in(browser, url, "phone", email)
        for page, size in ((desk, "desktop"), (phone, "phone")):
            page.goto(f"{url}/console/pledges/fujitsu")
            expect(page.get_by_role("heading", name="Release check")).to_be_visible()
            expect(page.get_by_text(f"Pledged: {TOTAL} of {TOTAL} supporters")).to_be_visible()
            _looked_at(page, f"pledges-campaign-{size}")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("#release-check").screenshot(
                path=str(ARTIFACTS / f"pledges-release-check-{size}.png")
            )
        with daemon_running(runtime):
            release_in(run, 11)
            wait_for(run, lambda st: st.total == TOTAL, timeout=30)
            _stop_halfway(runtime, desk, phone, url)
    admin.set_latency(0)
    _agree(run, runtime, sandbox, old_posts, email)


def _stop_halfway(runtime: Any, desk: Any, phone: Any, url: str) -> None:
    # Both watch the live page; the counts move without a reload.
    reads_before, watch_started = feed_of(runtime).reads, time.monotonic()
    for page in (desk, phone):
        page.goto(f"{url}/console/pledges/fujitsu/status")
    expect(desk.get_by_role("heading", name="Release status")).to_be_visible()
    first = _sent_on(desk)
    deadline = time.monotonic() + 45
    while _sent_on(desk) < TOTAL * 0.4 and time.monotonic() < deadline:
        desk.wait_for_timeout(250)
    assert _sent_on(desk) > first, "the status page did not update itself"
    # Screenshots only while it runs (axe looks at the same page once it is final:
    # on this shared machine the daemon, sandbox and pages need the CPU now).
    snapshot(phone, "pledges-status-live-phone")
    snapshot(desk, "pledges-status-live-desktop")
    watched = time.monotonic() - watch_started
    reads = feed_of(runtime).reads - reads_before
    # Two viewers, one read a second between them (plus the first of each page).
    assert reads <= watched + 3, (reads, watched)

    desk.get_by_role("link", name="Stop the release…").click()
    expect(desk.get_by_role("heading", name="Stop the release?")).to_be_visible()
    expect(desk.get_by_test_id("counts")).to_contain_text(f"of {TOTAL} posts have gone out")
    _looked_at(desk, "pledges-stop-confirm-desktop")
    desk.get_by_role("button", name="Yes, stop the release").click()
    expect(desk.get_by_role("status").first).to_contain_text("the release is stopped")
    expect(desk.get_by_text("This release is final.")).to_be_visible(timeout=30_000)
    _looked_at(desk, "pledges-status-stopped-desktop")
    phone.reload()
    expect(phone.get_by_text("This release is final.")).to_be_visible()
    _looked_at(phone, "pledges-status-stopped-phone")


def _agree(run: Any, runtime: Any, sandbox: SandboxHandle, old_posts: set[str], email: str) -> None:
    final = run.status()
    assert final.state == PledgeCampaignState.STOPPED
    sent, cancelled = final.by_state.get("sent", 0), final.by_state.get("cancelled", 0)
    assert sent + cancelled == TOTAL, final.by_state
    assert TOTAL * 0.3 < sent < TOTAL * 0.8 and cancelled > TOTAL * 0.2, final.by_state
    assert ledger_against_sandbox(run, sandbox, old_posts) == []
    with runtime.sessions() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "release.stop")).one()
    assert entry.actor == email and entry.after is not None
    assert entry.after["stopped"] + entry.after["sent"] + entry.after["in_flight"] == TOTAL
    assert entry.after["sent"] <= sent <= entry.after["sent"] + entry.after["in_flight"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_an_editor_fixes_a_campaign_the_checks_refused_and_lands_on_its_page(
    engine: Engine, database_url: str, sandbox: SandboxHandle, make_console: Any, size: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    runtime = sandbox_runtime(
        engine,
        database_url,
        sandbox.url,
        sandbox.admin,
        WEB_BASE_URL=url,
        WEB_SECRET_KEY="test-web-secret-key-0123456789abcdef",
    )
    email = make_console(runtime).add_user("editor@example.org", Role.EDITOR, password=PASSWORD)
    with serving_web(runtime, host="127.0.0.1", port=port), chromium() as browser:
        page = _sign_in(browser, url, size, email)
        page.goto(f"{url}/console/pledges")
        page.get_by_role("link", name="New pledge campaign").click()
        page.get_by_label("Short name").fill("fujitsu-demo")
        page.get_by_label("Title").fill("Defend the union at Fujitsu")
        page.get_by_label("Message").fill("Fujitsu: stop victimising union reps. #DefendTheUnion")
        page.get_by_label("Text on X (optional)").fill("x" * 290)
        page.get_by_label("Variant 1").fill("Reinstate the Fujitsu reps now.")
        page.get_by_label("Link (optional)").fill("https://union.example.org/fujitsu")
        page.get_by_label("Goal (supporters)").fill("500")
        page.get_by_label("Date and time").fill("2031-03-09T08:30")
        page.get_by_label("Time zone").fill("Europe/London")
        page.get_by_role("button", name="Create campaign").click()
        expect(
            page.get_by_role("heading", name="Nothing was saved: 1 problem to fix")
        ).to_be_visible()
        expect(page.locator("#text_x-error")).to_contain_text("for X, the text with the link")
        _looked_at(page, f"pledges-form-problems-{size}")
        page.get_by_label("Text on X (optional)").fill("")
        page.get_by_role("button", name="Create campaign").click()
        expect(page.get_by_role("heading", name="Defend the union at Fujitsu")).to_be_visible()
        expect(page.get_by_role("status").first).to_contain_text("Created the pledge campaign")
        expect(page.get_by_text("Sun 09 Mar 2031 08:30 Europe/London")).to_be_visible()
        expect(page.get_by_role("button", name="Copy link")).to_be_visible()  # JS showed it
        _looked_at(page, f"pledges-created-{size}")
