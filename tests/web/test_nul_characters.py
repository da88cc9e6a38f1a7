"""A NUL character (%00) in an address or a form is refused with a 400 that says so, never
passed on to the database (PostgreSQL refuses it in a query: a 500)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.web import csrf_of, pledge_x


def test_a_nul_in_the_query_or_path_is_refused_before_any_page_reads_it(
    client: TestClient, campaign: str
) -> None:
    for address in ("/c/fujitsu?utm_source=%00", "/c/fuji%00tsu", "/w/abc%00def"):
        answer = client.get(address)
        assert answer.status_code == 400, address
        assert "NUL character" in answer.text
        assert answer.headers["content-security-policy"]  # still under the site's headers
        assert answer.headers["cache-control"] == "no-store"
    assert client.get("/c/fujitsu").status_code == 200


def test_a_nul_in_a_supporters_form_is_refused_and_nothing_is_saved(
    client: TestClient, campaign: str
) -> None:
    private = pledge_x(client, "rep_nul")
    csrf = csrf_of(client.get(private).text)
    answer = client.post(private + "/edit", data={"csrf": csrf, "wording": "Solidarity\x00 now"})
    assert answer.status_code == 400
    assert "NUL character" in answer.text
    assert "Solidarity" not in client.get(private).text
