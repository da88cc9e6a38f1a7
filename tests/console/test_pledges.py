"""Pledge campaigns in the console: create and edit through the checks of `pledges
create/edit` (problems beside their fields, nothing stored on error), the campaign page
with its release check and share links, the approver's controls with their confirmation
pages, and the live status (server-sent events read once a second for every viewer)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from bot.console.pledges import StatusFeed, share_links
from bot.console.roles import Role
from bot.platforms.base import AccountInfo, Credentials
from bot.pledges.pledging import add_pledge, find_campaign
from bot.pledges.release import release
from bot.storage.models import (
    AuditEntry,
    Delivery,
    DeliveryState,
    PledgeCampaign,
    PledgeCampaignState,
)
from tests.support.pictures import png
from tests.support.pledges import make_campaign

ZONE = "Europe/London"


def _beside(page: str, name: str) -> str:
    match = re.search(
        rf'<div class="field-error" id="{re.escape(name)}-error">(.*?)</div>', page, re.S
    )
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def _release_text(console, hours: int = 48) -> str:
    when = (console.clock.now + timedelta(hours=hours)).astimezone(ZoneInfo(ZONE))
    return f"{when:%Y-%m-%dT%H:%M}"


def _form(console, token: str, **over: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf": token,
        "slug": "fujitsu-demo",
        "title": "Defend the union at Fujitsu",
        "description": "Stop the victimisation of reps",
        "platforms": ["x", "facebook"],
        "text": "Fujitsu: stop victimising union reps. #DefendTheUnion",
        "text_x": "",
        "text_facebook": "",
        "variant": ["Solidarity with the Fujitsu reps", "", ""],
        "link": "https://union.org.uk/fujitsu",
        "goal": "500",
        "release": _release_text(console),
        "tz": ZONE,
        "window": "10",
        "if_goal_missed": "release-anyway",
        "allow_edit": "yes",
        "image_alt": "",
    }
    data.update(over)
    return data


def _campaigns(console) -> int:
    with console.sessions() as s:
        return s.scalar(select(func.count()).select_from(PledgeCampaign)) or 0


def test_an_editor_creates_a_campaign_with_every_option_and_a_described_picture(
    console, form_token
):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post(
        "/console/pledges/new",
        data=_form(console, token, image_alt="Reps holding a banner", allow_edit=""),
        files={"image": ("banner.png", png(1200, 630), "image/png")},
    )
    assert answer.status_code == 303, _beside(answer.text, "slug") or answer.text[:2000]
    assert answer.headers["location"] == "/console/pledges/fujitsu-demo"
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu-demo")
        assert pc is not None
        assert pc.message == {
            "x": "Fujitsu: stop victimising union reps. #DefendTheUnion",
            "facebook": "Fujitsu: stop victimising union reps. #DefendTheUnion",
        }
        assert pc.variants == ["Solidarity with the Fujitsu reps"]
        assert (pc.goal, pc.window_minutes, pc.goal_policy, pc.allow_edit) == (
            500,
            10,
            "release_anyway",
            False,
        )
        assert (pc.image_width, pc.image_height, pc.image_alt) == (
            1200,
            630,
            "Reps holding a banner",
        )
        assert pc.release_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M") == _release_text(
            console
        )
        entry = s.scalars(select(AuditEntry)).all()[-1]
        assert (entry.action, entry.actor) == ("pledge_campaign.create", "editor@example.org")
        assert "image_data" not in (entry.after or {})
    page = editor.get("/console/pledges/fujitsu-demo").text
    assert "Created the pledge campaign fujitsu-demo" in page


def test_a_text_too_long_for_x_is_shown_beside_the_x_text_and_nothing_is_stored(
    console, form_token
):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post(
        "/console/pledges/new", data=_form(console, token, text_x="x" * 290), files={}
    )
    assert answer.status_code == 400
    assert "for X, the text with the link" in _beside(answer.text, "text_x")
    assert 'value="fujitsu-demo"' in answer.text  # what was typed is kept
    assert _campaigns(console) == 0


def test_a_picture_without_alt_text_and_a_bad_goal_are_refused_together(console, form_token):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post(
        "/console/pledges/new",
        data=_form(console, token, goal="lots"),
        files={"image": ("banner.png", png(1200, 630), "image/png")},
    )
    assert answer.status_code == 400
    assert "describe the picture" in _beside(answer.text, "image_alt")
    assert "number of supporters" in _beside(answer.text, "goal")
    assert _campaigns(console) == 0


@pytest.mark.parametrize(
    ("field", "written", "words"),
    [
        ("goal", "99999999999999999999", "1 to 10,000,000"),
        ("goal", "2147483648", "1 to 10,000,000"),  # past a 32-bit column
        ("goal", "10000001", "1 to 10,000,000"),
        ("goal", "٣", "number of supporters"),  # Arabic-Indic three: int() would take it
        ("window", "99999999999999999999", "0 to 1440"),
    ],
)
def test_a_number_no_column_can_hold_is_refused_beside_its_field_not_answered_500(
    console, form_token, field, written, words
):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post("/console/pledges/new", data=_form(console, token, **{field: written}))
    assert answer.status_code == 400
    assert words in _beside(answer.text, field)
    assert _campaigns(console) == 0


def test_a_file_that_is_not_a_picture_is_refused_beside_the_picture(console, form_token):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post(
        "/console/pledges/new",
        data=_form(console, token, image_alt="A banner"),
        files={"image": ("banner.png", b"not a picture at all", "image/png")},
    )
    assert answer.status_code == 400
    assert "banner.png" in _beside(answer.text, "image")
    assert _campaigns(console) == 0


def test_a_past_release_time_and_a_bad_slug_use_the_clis_words(console, form_token):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    answer = editor.post(
        "/console/pledges/new",
        data=_form(console, token, slug="Fujitsu Demo", release=_release_text(console, -2)),
    )
    assert answer.status_code == 400
    assert "lowercase letters, digits and single hyphens" in _beside(answer.text, "slug")
    assert _campaigns(console) == 0


def test_an_edit_changes_what_was_changed_and_removes_the_picture(console, form_token):
    editor = console.client(Role.EDITOR)
    token = form_token(editor, "/console/pledges/new")
    editor.post(
        "/console/pledges/new",
        data=_form(console, token, image_alt="Reps holding a banner"),
        files={"image": ("banner.png", png(1200, 630), "image/png")},
    )
    page = editor.get("/console/pledges/fujitsu-demo/edit").text
    assert "Reps holding a banner" in page and 'value="500"' in page
    answer = editor.post(
        "/console/pledges/fujitsu-demo/edit",
        data={
            **_form(console, token, goal="750", text_facebook="Stand with the Fujitsu reps"),
            "remove_image": "yes",
        },
    )
    assert answer.status_code == 303, answer.text[:3000]
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu-demo")
        assert pc is not None
        assert pc.goal == 750 and pc.image_sha256 is None and pc.image_alt is None
        assert pc.message["facebook"] == "Stand with the Fujitsu reps"
        assert [e.action for e in s.scalars(select(AuditEntry))][-1] == "pledge_campaign.edit"


def test_a_campaign_whose_release_started_cannot_be_edited(console, form_token):
    with console.sessions() as s:
        make_campaign(s, release_at=console.clock.now + timedelta(days=1))
        s.execute(update(PledgeCampaign).values(state=PledgeCampaignState.RELEASING))
        s.commit()
    editor = console.client(Role.EDITOR)
    assert editor.get("/console/pledges/fujitsu/edit").status_code == 409


def _pledged(console, n: int, *, release_in: timedelta = timedelta(days=1)) -> None:
    with console.sessions() as s:
        pc = make_campaign(s, goal=n, release_at=console.clock.now + release_in)
        for i in range(n):
            add_pledge(
                s,
                console.runtime.vault,
                pc,
                "x",
                Credentials(f"tok{i}", f"sec{i}", str(i)),
                AccountInfo(str(i), f"h{i}", f"Name {i}", 10),
                now=console.clock.now,
            )


def test_the_campaign_page_shows_progress_the_release_check_and_share_links(console):
    _pledged(console, 12)
    viewer = console.client(Role.VIEWER)
    page = html.unescape(viewer.get("/console/pledges/fujitsu").text)
    assert "Pledged: 12 of 12 supporters" in page
    assert "Release check" in page and "$2.40" in page  # 12 X posts with a link, $0.20 each
    assert "12 X accounts would post identical text" in page  # the rules' own warning
    assert 'value="http://testserver/c/fujitsu" readonly' in page
    for name in ("X", "Facebook", "Bluesky", "Mastodon", "WhatsApp"):
        assert f"Share on {name}" in page
    assert "Share by email" in page
    assert '<script src="/console/static/pledges.js"' in page
    assert "Hold the release" not in page  # a viewer has no controls


def test_share_links_carry_the_page_address_escaped():
    links = dict(share_links("https://clarion.example.org/c/fujitsu", "Reps & rights"))
    assert links["X"] == (
        "https://x.com/intent/post?text=Reps+%26+rights&url=https%3A%2F%2Fclarion.example.org%2Fc%2Ffujitsu"
    )
    assert links["email"].startswith("mailto:?subject=Reps%20%26%20rights&body=")


def test_an_approver_holds_then_cancels_after_confirming(console, form_token):
    _pledged(console, 3)
    approver = console.client(Role.APPROVER)
    page = approver.get("/console/pledges/fujitsu").text
    assert "Hold the release" in page and "Cancel the release" in page
    token = form_token(approver, "/console/pledges/fujitsu/release/hold")
    answer = approver.post(
        "/console/pledges/fujitsu/release/hold", data={"csrf": token, "confirm": "yes"}
    )
    assert answer.status_code == 303
    confirm = approver.get("/console/pledges/fujitsu/release/cancel").text
    assert "Nothing will be posted from the 3 pledges" in confirm
    approver.post("/console/pledges/fujitsu/release/cancel", data={"csrf": token, "confirm": "yes"})
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None and pc.state == PledgeCampaignState.CANCELLED
        assert [
            e.action for e in s.scalars(select(AuditEntry)) if e.action.startswith("release.")
        ] == [
            "release.hold",
            "release.cancel",
        ]
        assert all(
            e.actor == "approver@example.org"
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action.like("release.%")))
        )


def test_the_stop_page_says_how_many_went_and_how_many_would_be_stopped(console, form_token):
    _pledged(console, 5, release_in=timedelta(seconds=60))
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        release(s, pc.id, console.clock.now + timedelta(seconds=60))
        first_two = list(s.scalars(select(Delivery.id).order_by(Delivery.id).limit(2)))
        s.execute(
            update(Delivery).where(Delivery.id == first_two[0]).values(state=DeliveryState.SENT)
        )
        s.execute(
            update(Delivery).where(Delivery.id == first_two[1]).values(state=DeliveryState.SENDING)
        )
        s.commit()
    approver = console.client(Role.APPROVER)
    page = approver.get("/console/pledges/fujitsu/release/stop").text
    assert "1 of 5 posts have gone out; 3 have not started; 1 are in flight" in page
    assert "About <strong>3</strong> posts that have not started would be stopped" in page
    token = form_token(approver, "/console/pledges/fujitsu/release/stop")
    answer = approver.post(
        "/console/pledges/fujitsu/release/stop", data={"csrf": token, "confirm": "yes"}
    )
    assert answer.headers["location"] == "/console/pledges/fujitsu/status"
    status = html.unescape(approver.get("/console/pledges/fujitsu/status").text)
    assert "1 went out, 3 were stopped, 1 were in flight" in status
    assert re.search(r'data-field="stopped">3<', status)
    assert '<progress id="release-bar" max="5" value="4">' in status
    assert 'http-equiv="refresh"' in status  # one is still in flight: not final


def test_a_hold_refused_after_the_release_started_says_so(console, form_token):
    _pledged(console, 1, release_in=timedelta(seconds=60))
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        release(s, pc.id, console.clock.now + timedelta(seconds=60))
    approver = console.client(Role.APPROVER)
    token = form_token(approver, "/console/pledges/fujitsu")
    answer = approver.post(
        "/console/pledges/fujitsu/release/hold", data={"csrf": token, "confirm": "yes"}
    )
    assert answer.status_code == 409 and "can only be stopped" in answer.text


def test_the_status_stream_sends_the_counts_and_ends_when_the_release_is_final(console):
    _pledged(console, 2, release_in=timedelta(seconds=60))
    with console.sessions() as s:
        pc = find_campaign(s, "fujitsu")
        assert pc is not None
        release(s, pc.id, console.clock.now + timedelta(seconds=60))
        s.execute(update(Delivery).values(state=DeliveryState.SENT))
        s.execute(update(PledgeCampaign).values(state=PledgeCampaignState.RELEASED))
        s.commit()
    viewer = console.client(Role.VIEWER)
    with viewer.stream("GET", "/console/pledges/fujitsu/status/events") as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        body = "".join(answer.iter_text())
    assert body.startswith("retry: ")
    assert '"sent": 2' in body and body.rstrip().endswith("event: final\ndata: {}")
    page = viewer.get("/console/pledges/fujitsu/status").text
    assert 'http-equiv="refresh"' not in page


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_status_is_read_once_a_second_however_many_watch():
    reads: list[str] = []
    clock = Ticks()
    feed = StatusFeed(lambda slug: reads.append(slug) or {"slug": slug}, every=1.0, clock=clock)
    for _ in range(50):  # fifty viewers asking in the same second
        assert feed.latest("fujitsu") == {"slug": "fujitsu"}
    clock.now = 0.5
    feed.latest("fujitsu")
    clock.now = 1.0
    feed.latest("fujitsu")
    feed.latest("other")
    assert reads == ["fujitsu", "fujitsu", "other"] and feed.reads == 3


@pytest.mark.parametrize("control", ["hold", "resume", "cancel", "stop"])
def test_an_editor_cannot_use_the_release_controls(console, control):
    _pledged(console, 1)
    assert (
        console.client(Role.EDITOR).get(f"/console/pledges/fujitsu/release/{control}").status_code
        == 403
    )
