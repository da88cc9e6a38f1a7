"""Defects found by the second review of the campaign pages, each proved here first."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.pledges.pledging import find_campaign
from bot.pledges.release import release
from bot.runtime.wiring import Runtime
from bot.storage.models import Pledge
from bot.web import signins
from tests.support.web import (
    Clock,
    add_campaign,
    consent_facebook,
    consent_x,
    csrf_of,
    local,
    pledge_x,
    start_facebook,
    start_x,
)

CSS = Path(__file__).resolve().parents[2] / "bot" / "web" / "static" / "clarion.css"


def test_after_a_missed_goal_the_pledge_page_says_nothing_will_be_posted(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "missed", goal=5)  # all-or-nothing
    private = pledge_x(client, "rep_dee", slug="missed")
    with runtime.sessions() as session:
        pc = find_campaign(session, "missed")
        assert pc is not None
        clock.now = pc.release_at
        assert release(session, pc.id, pc.release_at).state == "goal_missed"
    page = client.get(private)
    assert page.status_code == 200
    assert "goal was not reached" in page.text and "nothing will be posted" in page.text
    assert "release has started" not in page.text


def _luminance(hex_colour: str) -> float:
    digits = hex_colour[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_focus_outline_stands_out_from_every_background_it_is_drawn_on() -> None:
    # WCAG 2.1 SC 1.4.11 (non-text contrast): a focus indicator needs 3:1 against what is
    # next to it. The Support buttons and forms sit on cards, the rest on the page.
    css = CSS.read_text()
    colours = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{3,6})\b", css))
    focus = re.search(r":focus-visible[^{]*\{[^}]*outline:\s*\d+px solid ([^;]+);", css)
    assert focus, "no focus outline colour found"
    written = focus.group(1).strip()
    outline = colours[written[6:-1]] if written.startswith("var(--") else written
    for background in ("bg", "card"):
        ratio = _contrast(outline, colours[background])
        assert ratio >= 3.0, f"focus outline on --{background}: {ratio:.2f}:1"


class ClosesAfterFirstPledge:
    """The app's clock: open until one pledge is stored, then past the cut-off (as if the
    release had been written between two Pages of one pick)."""

    def __init__(self, runtime: Runtime, open_at: datetime, closed_at: datetime) -> None:
        self.runtime, self.open_at, self.closed_at = runtime, open_at, closed_at

    def __call__(self) -> datetime:
        with self.runtime.sessions() as session:
            pledged = session.scalar(select(func.count()).select_from(Pledge))
        return self.closed_at if pledged else self.open_at


def test_pages_pledged_before_a_later_page_is_refused_still_get_their_private_link(
    make_client: Callable[..., TestClient], runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "pages")
    with runtime.sessions() as session:
        pc = find_campaign(session, "pages")
        assert pc is not None
        release_at = pc.release_at
    client = make_client()
    # One person who runs two Pages: the first consent creates them and Page one, the
    # second (same person) adds Page two.
    first = start_facebook(client, "pages")
    consent_facebook(first, "Gwen Twopages", "Gwen's Cafe")
    dialog = start_facebook(client, "pages")
    consent = requests.get(dialog, timeout=10).text
    user_id = re.search(r"value='([^']+)'(?: checked)?> Gwen Twopages", consent)
    assert user_id
    back = requests.post(
        dialog,
        data={"user_id": user_id.group(1), "page_name": "Gwen's Shop", "decision": "allow"},
        allow_redirects=False,
        timeout=10,
    )
    picked = client.get(local(back.headers["location"].split("#")[0]))
    picker = client.get(picked.headers["location"])
    page_ids = re.findall(r'name="page" value="([^"]+)"', picker.text)
    assert len(page_ids) == 2
    client.app.state.clock = ClosesAfterFirstPledge(  # type: ignore[attr-defined]
        runtime, clock.now, release_at
    )
    done = client.post(
        "/c/pages/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_ids}
    )
    with runtime.sessions() as session:
        pledged = session.scalar(select(func.count()).select_from(Pledge))
    assert pledged == 1, done.text  # the first Page is in and will post
    assert done.status_code == 303, done.text
    private = client.get(done.headers["location"])
    assert private.status_code == 200 and "Gwen&#39;s" in private.text


def test_a_cancel_link_from_another_browser_does_not_spoil_a_supporters_sign_in(
    make_client: Callable[..., TestClient], campaign: str
) -> None:
    supporter, stranger = make_client(), make_client()
    authorize = start_x(supporter)
    token = parse_qs(urlsplit(authorize).query)["oauth_token"][0]
    cancelled = stranger.get(f"/c/fujitsu/x/callback?denied={token}")
    assert cancelled.status_code == 200  # a friendly page, whoever asks
    done = supporter.get(local(consent_x(authorize, "rep_hal")))
    assert done.status_code == 303, done.text
    assert done.headers["location"].startswith("/w/")


def test_ticking_more_pages_than_the_thanks_page_can_list_is_refused_before_pledging(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    # The private links of a multi-Page pledge ride in the session cookie, at most
    # signins.MAX_PAGES_PER_PICK of them: a Page pledged beyond that would have no link.
    dialog = start_facebook(client)
    consent_facebook(dialog, "Ivy Manypages", "Branch 0")
    user_id = re.search(
        r"value='([^']+)'(?: checked)?> Ivy Manypages", requests.get(dialog, timeout=10).text
    )
    assert user_id
    for number in range(1, signins.MAX_PAGES_PER_PICK + 1):
        back = requests.post(
            dialog,
            data={
                "user_id": user_id.group(1),
                "page_name": f"Branch {number}",
                "decision": "allow",
            },
            allow_redirects=False,
            timeout=10,
        )
    picked = client.get(local(back.headers["location"].split("#")[0]))
    picker = client.get(picked.headers["location"])
    page_ids = re.findall(r'name="page" value="([^"]+)"', picker.text)
    assert len(page_ids) == signins.MAX_PAGES_PER_PICK + 1
    refused = client.post(
        "/c/fujitsu/facebook/pages", data={"csrf": csrf_of(picker.text), "page": page_ids}
    )
    assert refused.status_code == 400
    assert f"at most {signins.MAX_PAGES_PER_PICK} Pages" in refused.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Pledge)) == 0
    # the choice is still there: ticking fewer goes through, every Page with its link
    done = client.post(
        "/c/fujitsu/facebook/pages",
        data={"csrf": csrf_of(picker.text), "page": page_ids[: signins.MAX_PAGES_PER_PICK]},
    )
    assert done.status_code == 303
    thanks = client.get(done.headers["location"])
    assert thanks.text.count("manage this pledge") == signins.MAX_PAGES_PER_PICK


def test_a_refused_wording_is_given_back_in_the_box_to_shorten_not_lost(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_jo")
    typed = "Fujitsu must reinstate the reps, and here is why: " + "b" * 260
    refused = client.post(
        private + "/edit", data={"csrf": csrf_of(client.get(private).text), "wording": typed}
    )
    assert refused.status_code == 400
    box = re.search(r'<textarea id="wording"[^>]*>([^<]*)</textarea>', refused.text)
    assert box and box.group(1) == typed
    assert 'aria-invalid="true"' in refused.text and 'aria-describedby="edit-error"' in refused.text
