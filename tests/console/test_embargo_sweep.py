"""An embargoed statement's words reach no page a viewer can open before its release."""

from __future__ import annotations

from bot.console.roles import Role
from tests.support.console_posts import campaign_accounts, queued

SECRET = "Ballot result: 92% voted to strike"


def test_a_viewer_reads_the_embargoed_words_on_no_page_before_release(console):
    campaign_accounts(console)
    post_id = queued(
        console, SECRET, actor="editor@example.org", requires_approval=True, embargoed=True
    )
    viewer = console.client(Role.VIEWER)
    for path in (
        "/console/",
        "/console/posts",
        f"/console/posts/{post_id}",
        "/console/reports",
        "/console/reports/demo",
        "/console/reports/demo/report.csv",
        "/console/reports/demo/posts/demo-eve",
        "/console/reports/demo/posts/demo-eve/report.csv",
        "/console/alerts",
        "/console/schedules/export?campaign=demo",
    ):
        page = viewer.get(path)
        assert "92%" not in page.text, (path, page.status_code)
