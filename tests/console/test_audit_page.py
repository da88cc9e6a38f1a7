"""The audit log page and its CSV: filters, before → after, formula-safe cells."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from bot.console.roles import Role
from bot.people import audit


def _record(console, actor, action, subject, *, before=None, after=None, ago=timedelta(0)):
    with console.sessions() as session:
        audit.record(
            session,
            actor=actor,
            action=action,
            subject=subject,
            before=before,
            after=after,
            at=console.clock.now - ago,
        )
        session.commit()


def test_the_audit_page_filters_by_actor_action_and_date(console):
    admin = console.client(Role.ADMIN)
    _record(
        console,
        "sam@example.org",
        "post.edit",
        "post 7",
        before={"text": "a", "zone": "Europe/London"},
        after={"text": "b", "zone": "Europe/London"},
    )
    _record(console, "cli:pat", "post.cancel", "post 8", ago=timedelta(days=3))
    _record(console, "sam@example.org", "schedule.apply", "demo.yaml")
    page = admin.get("/console/audit", params={"actor": "sam@example.org", "action": "post"})
    assert "post 7" in page.text and "text=a → text=b" in page.text
    assert "zone=Europe/London" not in page.text  # only what changed
    assert "demo.yaml" not in page.text and "post 8" not in page.text
    day = (console.clock.now - timedelta(days=3)).date().isoformat()
    dated = admin.get("/console/audit", params={"since": day, "until": day}).text
    assert "post 8" in dated and "post 7" not in dated


def test_a_bad_date_in_the_filter_is_explained(console):
    page = console.client(Role.ADMIN).get("/console/audit", params={"since": "7/12/2026"})
    assert page.status_code == 400
    assert "is not a date: use YYYY-MM-DD" in page.text


@pytest.mark.parametrize("query", [{"until": "9999-12-31"}, {"since": "0001-01-01"}])
def test_a_date_at_the_end_of_the_calendar_is_refused_not_answered_500(console, query):
    admin = console.client(Role.ADMIN)
    page = admin.get("/console/audit", params=query)
    assert page.status_code == 400
    assert "is out of range: give a date from 1970 to 9998" in page.text
    assert admin.get("/console/audit.csv", params=query).status_code == 400


def test_a_nul_in_a_filter_is_refused_not_passed_to_the_database(console):
    # PostgreSQL refuses NUL in a query's text: the page answered 500 there.
    admin = console.client(Role.ADMIN)
    for address in ("/console/audit?actor=%00", "/console/audit.csv?action=a%00b"):
        answer = admin.get(address)
        assert answer.status_code == 400 and "NUL character" in answer.text


def test_the_csv_cannot_run_formulas_in_a_spreadsheet(console):
    admin = console.client(Role.ADMIN)
    _record(console, "cli:pat", "post.edit", '=HYPERLINK("http://evil")', after={"x": "+1"})
    _record(console, "cli:pat", "post.edit", "@SUM(A1)")
    _record(console, "cli:pat", "post.edit", "-2+3")
    answer = admin.get("/console/audit.csv", params={"actor": "cli:pat"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == list(audit.CSV_HEADER)
    subjects = sorted(r[3] for r in rows[1:])
    assert subjects == sorted(['\'=HYPERLINK("http://evil")', "'@SUM(A1)", "'-2+3"])


def test_secrets_passed_to_the_audit_log_by_mistake_are_not_kept(console):
    _record(
        console, "cli:pat", "account.connect", "@x", after={"token": "t0ps3cret", "handle": "x"}
    )
    with console.sessions() as session:
        row = audit.entries(session)[0]
    assert row.after == {"handle": "x"}


def test_an_editor_cannot_read_the_audit_log(console):
    editor = console.client(Role.EDITOR)
    assert editor.get("/console/audit").status_code == 403
    assert editor.get("/console/audit.csv").status_code == 403


def test_a_posts_row_links_to_the_posts_page(console):
    _record(console, "sam@example.org", "post.cancel", "post:12", after={"state": "cancelled"})
    _record(console, "cli:root", "user.invite", "rosa@example.org")
    page = console.client(Role.ADMIN).get("/console/audit").text
    assert '<a href="/console/posts/12">post:12</a>' in page
    assert 'href="/console/posts/rosa' not in page and "rosa@example.org" in page
