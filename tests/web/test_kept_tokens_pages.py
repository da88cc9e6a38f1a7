"""Supporters are told plainly, before and after pledging, how long their sign-in is kept."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.web.app import create_web_app
from tests.support.web import TESTSERVER, Clock, pledge_x

KEPT = "after the release we keep read access for up to 30 days to count engagement"
GONE = "deleted when the release ends"
AT_ONCE = "withdraw before the release to delete it at once"


def text(html: str) -> str:
    return " ".join(html.split()).lower()


def test_the_campaign_and_pledge_pages_say_how_long_the_sign_in_is_kept(
    client: TestClient,
    campaign: str,
    clock: Clock,
) -> None:
    page = text(client.get("/c/fujitsu").text)
    assert KEPT in page and AT_ONCE in page and "never again" in page
    private = pledge_x(client, "rep_kept")
    mine = text(client.get(private).text)
    assert KEPT in mine and AT_ONCE in mine and "never used to post again" in mine
    clock.now += timedelta(days=3)  # the release has started
    after = text(client.get(private).text)
    assert "we keep read access for up to 30 days after the post went out" in after
    assert "only to count its engagement, then delete it" in after


def test_with_the_setting_off_the_pages_say_the_sign_in_goes_at_the_release_end(
    runtime: Runtime,
    campaign: str,
    clock: Clock,
) -> None:
    off = runtime.with_settings(pledge_tokens_kept_for_engagement=False)
    browser = TestClient(
        create_web_app(off, clock=clock), base_url=TESTSERVER, follow_redirects=False
    )
    page = text(browser.get("/c/fujitsu").text)
    assert GONE in page and "read access" not in page
    private = pledge_x(browser, "rep_off")
    assert GONE in text(browser.get(private).text)


def test_the_thanks_page_for_several_pages_says_it_too(runtime: Runtime) -> None:
    app = create_web_app(runtime)
    # the page as the thanks route renders it, without signing in several Pages first
    request = SimpleNamespace(app=app, url_for=lambda name, **params: f"/static/{params['path']}")
    html = app.state.templates.get_template("thanks.html").render(
        request=request, views=[], platform_names={}, base_url=""
    )
    assert "keep read access to each page for up to 30 days" in text(html)
