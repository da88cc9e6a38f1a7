"""The supporter's first minute: the message as each platform shows it, the private link
to copy or email (to one address, not often), and share buttons after pledging."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.web.app import create_web_app
from tests.support.pledges import Inbox
from tests.support.web import TESTSERVER, Clock, add_campaign, csrf_of, pledge_x

# a real top-level domain: X links only those (twitter-text), so a .example one stays text
LONG_LINK = "https://www.union.org.uk/campaigns/fujitsu-reps-victimisation?utm=x"


def _blockquote_after(html: str, caption: str) -> str:
    match = re.search(caption + r"</figcaption>\s*<blockquote>(.*?)</blockquote>", html, re.S)
    assert match, caption
    return match.group(1)


def test_the_x_preview_shows_the_link_as_x_displays_it(
    client: TestClient, runtime: Runtime
) -> None:
    add_campaign(runtime, link=LONG_LINK)
    html = client.get("/c/fujitsu").text
    on_x = _blockquote_after(html, "On X")
    assert '<span class="shown-link">union.org.uk/campaigns/fujitsu…</span>' in on_x
    assert "https://" not in on_x
    assert f"On Facebook the link {LONG_LINK.replace('&', '&amp;')}" in html
    step = client.get("/c/fujitsu/pledge/x").text
    assert "union.org.uk/campaigns/fujitsu…" in step and "https://www.union.org.uk" not in step


def test_the_support_buttons_come_before_the_message_and_the_details(
    client: TestClient, campaign: str
) -> None:
    html = client.get("/c/fujitsu").text
    support = html.index("Support with X")
    assert support < html.index('id="progress-h"') < html.index('id="message-h"')
    assert support < html.index('class="description"')


def test_after_pledging_the_page_offers_to_copy_the_link_and_share_the_campaign(
    client: TestClient, sandbox, campaign: str
) -> None:
    sandbox.admin.create_x_user("sharer", followers=5)
    html = client.get(pledge_x(client, "sharer") + "?new=1").text
    assert 'data-copy="private-link" hidden' in html  # shown by copy.js; no script, no button
    assert '<input id="private-link" aria-label="Your private link" class="link" readonly' in html
    hrefs = dict(re.findall(r'<a class="share-button" href="([^"]+)"[^>]*>([^<]+)</a>', html))
    by_name = {name: href.replace("&amp;", "&") for href, name in hrefs.items()}
    page = f"{TESTSERVER}/c/fujitsu"
    x = parse_qs(urlsplit(by_name["Share on X"]).query)
    assert x["url"] == [page] and x["text"] == ["Defend the union at Fujitsu"]
    assert parse_qs(urlsplit(by_name["Share on Facebook"]).query)["u"] == [page]
    assert page in parse_qs(urlsplit(by_name["Share on Bluesky"]).query)["text"][0]
    assert page in parse_qs(urlsplit(by_name["Share on WhatsApp"]).query)["text"][0]
    assert by_name["Share by email"].startswith("mailto:?subject=Defend%20the%20union")
    assert by_name["Share on Mastodon"] == "/c/fujitsu/share/mastodon"
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts and all(src.startswith("/static/") for src in scripts)
    assert "<script>" not in html


def test_the_mastodon_step_links_to_the_server_the_supporter_names(
    client: TestClient, campaign: str
) -> None:
    asked = client.get("/c/fujitsu/share/mastodon")
    assert asked.status_code == 200 and 'name="server"' in asked.text
    typed = client.get("/c/fujitsu/share/mastodon", params={"server": "@me@Mastodon.Social"})
    link = re.search(r'href="(https://mastodon\.social/share\?[^"]+)"', typed.text)
    assert link, typed.text
    text = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["text"][0]
    assert f"{TESTSERVER}/c/fujitsu" in text
    bad = client.get("/c/fujitsu/share/mastodon", params={"server": "javascript:alert(1)"})
    assert bad.status_code == 400 and "is not a server name" in bad.text
    assert "javascript:alert(1)/share" not in bad.text


def _mailing_client(runtime: Runtime, clock: Clock, port: int) -> TestClient:
    mailing = runtime.with_settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls="off")
    app = create_web_app(mailing, clock=clock, page_cache_seconds=0)
    return TestClient(app, base_url=TESTSERVER, follow_redirects=False)


def test_the_private_link_is_emailed_to_the_one_address_on_the_pledge_and_not_again_at_once(
    runtime: Runtime, clock: Clock, campaign: str, sandbox, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    client = _mailing_client(runtime, clock, port)
    sandbox.admin.create_x_user("mailer_rep", followers=5)
    private = pledge_x(client, "mailer_rep")
    page = client.get(private).text
    assert "Email me this link" in page
    sent = client.post(
        private + "/email", data={"csrf": csrf_of(page), "email": "rep@union.example"}
    )
    assert sent.status_code == 303 and sent.headers["location"] == private + "?mailed=1"
    ((to, message),) = inbox.messages
    assert to == ["rep@union.example"]
    assert f"{TESTSERVER}{private}" in message.get_payload()
    assert "An email address is on file" in client.get(private).text  # kept on the pledge
    again = client.post(
        private + "/email", data={"csrf": csrf_of(page), "email": "someone.else@example.org"}
    )
    assert again.status_code == 429 and "emailed a moment ago" in again.text
    assert len(inbox.messages) == 1


def test_one_address_cannot_be_sent_links_from_pledge_after_pledge(
    runtime: Runtime, clock: Clock, campaign: str, sandbox, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    client = _mailing_client(runtime, clock, port)
    codes = []
    for n in range(4):
        sandbox.admin.create_x_user(f"spammer{n}", followers=1)
        private = pledge_x(client, f"spammer{n}")
        csrf = csrf_of(client.get(private).text)
        answer = client.post(private + "/email", data={"csrf": csrf, "email": "victim@example.org"})
        codes.append(answer.status_code)
    assert codes == [303, 303, 303, 429] and len(inbox.messages) == 3


def test_a_bad_address_is_refused_beside_its_box_and_nothing_is_sent(
    runtime: Runtime, clock: Clock, campaign: str, sandbox, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    client = _mailing_client(runtime, clock, port)
    sandbox.admin.create_x_user("typo_rep", followers=5)
    private = pledge_x(client, "typo_rep")
    csrf = csrf_of(client.get(private).text)
    refused = client.post(private + "/email", data={"csrf": csrf, "email": "not an address"})
    assert refused.status_code == 400 and "does not look right" in refused.text
    assert 'id="link-email" name="email" type="email" autocomplete="email" aria-invalid="true"' in (
        refused.text
    )
    empty = client.post(private + "/email", data={"csrf": csrf, "email": ""})
    assert empty.status_code == 400 and "Type the email address" in empty.text
    assert inbox.messages == []


def test_without_a_mail_server_the_page_does_not_offer_to_email_the_link(
    client: TestClient, sandbox, campaign: str
) -> None:
    sandbox.admin.create_x_user("no_mail_rep", followers=5)
    private = pledge_x(client, "no_mail_rep")
    page = client.get(private)
    assert "Email me this link" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert client.post(private + "/email", data={"csrf": csrf_of(page.text)}).status_code == 404


def test_the_confirmation_shows_the_x_post_as_x_will_display_it(
    client: TestClient, runtime: Runtime, sandbox
) -> None:
    add_campaign(runtime, link=LONG_LINK)
    sandbox.admin.create_x_user("display_rep", followers=5)
    html = client.get(pledge_x(client, "display_rep")).text
    posted = re.search(r'<blockquote data-testid="text">(.*?)</blockquote>', html, re.S)
    assert posted and '<span class="shown-link">union.org.uk/campaigns/fujitsu…</span>' in (
        posted.group(1)
    )
    assert "https://www.union.org.uk" not in posted.group(1)
