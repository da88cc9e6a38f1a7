"""A real browser for the console's and the campaign pages' tests: Debian's Chromium
driven by Playwright, axe-core for accessibility, screenshots kept as test artefacts.

No browser is downloaded: Chromium comes from `apt-get install chromium`
(scripts/ensure-system-packages.sh, run by `make test`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CAMPAIGN_ARTIFACTS = ARTIFACTS.parent / "campaign"  # the supporters' pages
# The sizes every console page is looked at: a phone held upright, a laptop.
VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
SERIOUS = ("serious", "critical")


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def snapshot(page: Any, name: str, folder: Path = ARTIFACTS) -> Path:
    """Save a full-page screenshot under ``folder`` (tests/artifacts/console/ unless
    told); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in found
        if v.get("impact") in SERIOUS
    ]
