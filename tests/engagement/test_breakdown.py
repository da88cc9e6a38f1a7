"""The per-post breakdown counts what the report's totals count, one line per post (a
pledge release as one line, by its estimate), and names posts by their words and time."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.engagement import report
from bot.platforms.base import METRIC_NAMES
from tests.support.reports import seed_report


def test_the_lines_add_up_to_the_reports_totals(sessions: sessionmaker[Session]):
    seed_report(sessions)
    with sessions() as session:
        lines = report.breakdown(session, "demo")
        built = report.build(session, "demo")
    assert [(line.key, line.sent, line.posts) for line in lines] == [
        ("rally", 2, 1),
        ("", 4, 4),  # the release
        ("gap", 1, 1),
    ]
    for metric in METRIC_NAMES:
        total = built.total.metrics[metric]
        values = [line.metrics[metric].value for line in lines]
        if total.value is None:
            assert values == [None] * len(lines), metric
        else:
            assert sum(v or 0 for v in values) == total.value, metric
    release = lines[1]
    assert release.release and release.interactions.estimated
    assert (release.interactions.value, release.interactions.low) == (48, 34)
    assert lines[0].interactions.value == 2 * (30 + 6 + 3)


def test_a_failed_post_that_never_went_out_has_no_line(sessions: sessionmaker[Session]):
    seed_report(sessions)
    with sessions() as session:
        keys = {line.key for line in report.breakdown(session, "demo")}
    assert "late" not in keys


def test_a_post_is_named_by_its_first_words_and_its_time_in_the_zone():
    at = datetime(2026, 7, 1, 17, 0, tzinfo=UTC)
    text = "Rally at 8:30 outside Fujitsu HQ.\n\nBring a flag and bring a friend! #DefendTheUnion"
    assert report.post_name(text, at, "Europe/London") == (
        "“Rally at 8:30 outside Fujitsu HQ. Bring a flag…” · Wed 1 Jul 18:00"
    )
    assert report.post_name("Short", at, "UTC") == "“Short” · Wed 1 Jul 17:00"
    assert report.post_name("", at, "UTC") == "“(no text)” · Wed 1 Jul 17:00"
