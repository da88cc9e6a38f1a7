"""Console pages build no address from the request's Host header: a forged Host cannot put
another site into a page or a redirect (a shared cache would keep it for everyone)."""

from __future__ import annotations

from bot.people.roles import Role
from tests.support.console import ConsoleHarness

FORGED = {"host": "evil.example"}


def test_a_console_page_links_nothing_to_a_forged_host(console: ConsoleHarness) -> None:
    client = console.client(Role.ADMIN)
    page = client.get("/console/", headers=FORGED, follow_redirects=True)
    assert page.status_code == 200
    assert "evil.example" not in page.text
    assert 'href="/static/clarion.css"' in page.text
    sign_in = console.anonymous().get("/console/sign-in", headers=FORGED)
    assert "evil.example" not in sign_in.text


def test_the_console_without_its_slash_redirects_to_web_base_url(console: ConsoleHarness) -> None:
    answer = console.anonymous().get("/console", headers=FORGED)
    assert answer.status_code in (301, 302, 303, 307, 308)
    assert "evil.example" not in answer.headers["location"]
    assert answer.headers["location"] in ("/console/", "http://testserver/console/")
