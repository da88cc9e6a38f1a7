"""The calendar, the console's home: next up first, then days and weeks cut at midnight
in the campaign's time zone, whatever the clocks do."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from bot.console.roles import Role
from bot.storage.models import Delivery, DeliveryState, Post
from tests.support.console_posts import ZONE, campaign_accounts, queued


@pytest.fixture
def viewer(console):
    campaign_accounts(console)
    return console.client(Role.VIEWER)


@pytest.fixture
def at_2027(console):
    """The console's clock in October 2027 before anyone signs in (sessions expire when
    the clock jumps under them)."""
    console.clock.now = datetime(2027, 10, 20, 12, 0, tzinfo=UTC)
    return console


def _day(page: str, day: str) -> str:
    """The HTML of one day's box on the calendar."""
    match = re.search(rf'aria-labelledby="day-{day}">(.*?)</section>', page, re.S)
    assert match, f"no box for {day}"
    return match.group(1)


def test_the_console_home_is_the_calendar(console, viewer):
    answer = viewer.get("/console/")
    assert answer.status_code == 200 and "<h1>Calendar" in answer.text
    assert 'href="/console/" aria-current="page">Calendar<' in answer.text


def test_days_are_cut_at_midnight_in_the_campaign_zone_across_the_clock_change(at_2027, viewer):
    console = at_2027
    # Europe/London: the clocks go back at 02:00 BST on Sunday 31 October 2027.
    queued(
        console,
        "Monday just after midnight",
        key="mon",
        at=datetime(2027, 10, 24, 23, 30, tzinfo=UTC),
    )
    queued(
        console,
        "Sunday just after midnight",
        key="sun-early",
        at=datetime(2027, 10, 30, 23, 30, tzinfo=UTC),
    )
    queued(console, "Sunday noon", key="sun-noon", at=datetime(2027, 10, 31, 12, 0, tzinfo=UTC))
    queued(console, "Sunday late", key="sun-late", at=datetime(2027, 10, 31, 23, 30, tzinfo=UTC))
    week = viewer.get("/console/?campaign=demo&view=week&date=2027-10-28")
    assert week.status_code == 200
    assert "times in Europe/London" in week.text and "Week of 25 October 2027" in week.text
    monday = _day(week.text, "2027-10-25")
    assert "00:30" in monday and "Monday just after midnight" in monday
    saturday = _day(week.text, "2027-10-30")
    assert "Sunday" not in saturday
    sunday = _day(week.text, "2027-10-31")
    # 23:30 UTC on Saturday is 00:30 BST on Sunday; 12:00 UTC on Sunday is 12:00 GMT.
    assert re.findall(r'class="entry-when">(\d\d:\d\d)<', sunday) == ["00:30", "12:00", "23:30"]
    day = viewer.get("/console/?campaign=demo&view=day&date=2027-10-31")
    assert "Sunday 31 October 2027" in day.text
    assert re.findall(r'class="entry-when">(\d\d:\d\d)<', _day(day.text, "2027-10-31")) == [
        "00:30",
        "12:00",
        "23:30",
    ]


def test_previous_today_and_next_move_by_the_view(viewer):
    week = viewer.get("/console/?view=week&date=2027-03-24").text
    assert "date=2027-03-17" in week and "date=2027-03-31" in week
    day = viewer.get("/console/?view=day&date=2027-03-24").text
    assert "date=2027-03-23" in day and "date=2027-03-25" in day
    assert 'aria-current="page">Day<' in day


def test_next_up_comes_first_soonest_first_with_platforms_and_a_worded_state(console, viewer):
    queued(console, "Later post", key="later", at=console.clock.now + timedelta(hours=5))
    queued(
        console,
        "Sooner post",
        key="sooner",
        at=console.clock.now + timedelta(hours=1),
        targets=("x",),
    )
    page = viewer.get("/console/").text
    next_up = page.split('id="next-title"', 1)[1].split("</section>", 1)[0]
    assert page.index('id="next-title"') < page.index('id="period-title"')
    assert next_up.index("Sooner post") < next_up.index("Later post")
    sooner = next_up.split("Sooner post")[0].rsplit("<li", 1)[1]
    assert 'class="entry-platforms">X<' in sooner and "scheduled" in sooner


def test_a_past_post_shows_its_outcome_and_links_to_the_platform(console, viewer):
    post_id = queued(console, "Went out", key="out", at=console.clock.now + timedelta(minutes=30))
    with console.sessions() as session:
        session.execute(
            update(Delivery)
            .where(Delivery.post_id == post_id)
            .values(state=DeliveryState.SENT, url="http://127.0.0.1:9/post/1")
        )
        session.execute(
            update(Post)
            .where(Post.id == post_id)
            .values(scheduled_at=console.clock.now - timedelta(minutes=5))
        )
        session.commit()
    day = (console.clock.now - timedelta(minutes=5)).astimezone(ZoneInfo(ZONE)).date()
    page = viewer.get(f"/console/?view=day&date={day}").text
    assert "✓</span> sent" in page
    assert 'href="http://127.0.0.1:9/post/1"' in page


def test_filters_narrow_the_calendar_by_platform_state_and_author(console, viewer):
    queued(console, "Only on X", key="x-only", targets=("x",), actor="ada@example.org")
    queued(console, "Only on Facebook", key="fb-only", targets=("facebook",))
    cancelled = queued(console, "Called off", key="off")
    with console.sessions() as session:
        from bot.campaigns.editing import cancel, load_post

        cancel(session, load_post(session, str(cancelled)), actor="cli:test")
    by_platform = viewer.get("/console/?view=day&platform=facebook").text
    assert "Only on Facebook" in by_platform and "Only on X" not in by_platform
    by_author = viewer.get("/console/?view=day&author=ada@example.org").text
    assert "Only on X" in by_author and "Only on Facebook" not in by_author
    by_state = viewer.get("/console/?view=day&state=cancelled").text
    assert "Called off" in by_state and "Only on X" not in by_state
