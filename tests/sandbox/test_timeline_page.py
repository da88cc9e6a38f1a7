"""The sandbox's timeline page, as a volunteer watching a rehearsal reads it: each post's
engagement, a Facebook post's attached link, one account at a time, one time format."""

from __future__ import annotations

import re

import facebook
import requests
import tweepy

from bot.sandbox.page import shown_metrics
from bot.sandbox.testing import SandboxHandle
from tests.support.graph import GRAPH_VERSION, rerouted_session

TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def _page(sandbox: SandboxHandle, **params: str) -> str:
    answer = requests.get(f"{sandbox.url}/_sandbox/", params=params, timeout=5)
    assert answer.status_code == 200
    return answer.text


def _facebook_post(sandbox: SandboxHandle, name: str, link: str) -> None:
    page = sandbox.admin.create_page(name, followers=5000)
    api = facebook.GraphAPI(
        access_token=page["page_token"], timeout=5, session=rerouted_session(sandbox.url)
    )
    api.version = GRAPH_VERSION
    api.put_object(page["page_id"], "feed", message="Stand with the reps", link=link)


def test_each_post_shows_its_engagement_and_a_facebook_post_its_attached_link(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    client.create_tweet(text="Stand with the Fujitsu reps", user_auth=True)
    _facebook_post(sandbox, "Bakers' Branch", "https://union.example/fujitsu")
    sandbox.admin.advance_clock(86400)  # a day of engagement
    html = _page(sandbox)
    engagement = re.findall(r'data-testid="engagement">([^<]+)</span>', html)
    assert len(engagement) == 2
    x_line, fb_line = sorted(engagement, key=lambda line: "reaction" in line)
    assert re.fullmatch(r"[\d,]+ views? · [\d,]+ likes? · [\d,]+ reposts? · .*", x_line)
    assert int(x_line.split(" view")[0].replace(",", "")) > 0
    assert "reaction" in fb_line and "share" in fb_line
    assert 'Attached link: <a href="https://union.example/fujitsu">' in html


def test_every_time_on_the_page_is_in_one_format(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    client.create_tweet(text="one", user_auth=True)
    _facebook_post(sandbox, "Time Page", "https://union.example/t")
    html = _page(sandbox)
    shown = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", html)
    assert len(shown) == 2 and all(TIME.fullmatch(t) for t in shown)
    assert TIME.search(html.split("Sandbox time ")[1][:30])
    assert not re.search(r">\d{4}-\d\d-\d\dT", html)  # no raw ISO stamp shown as text


def test_the_page_can_show_one_account(
    sandbox: SandboxHandle, client: tweepy.Client, bob: dict
) -> None:
    client.create_tweet(text="alice was here", user_auth=True)
    _facebook_post(sandbox, "Filter Page", "https://union.example/f")
    everyone = _page(sandbox)
    assert "alice was here" in everyone and "Filter Page" in everyone
    (alice_key,) = re.findall(r'<option value="(x:[^"]+)">@alice', everyone)
    only_alice = _page(sandbox, account=alice_key)
    assert "alice was here" in only_alice and only_alice.count('<section class="card">') == 1
    assert "Filter Page</h2>" not in only_alice and "@bob</h2>" not in only_alice
    assert f'<option value="{alice_key}" selected>' in only_alice
    missing = _page(sandbox, account="x:nobody")
    assert "No account x:nobody" in missing


def test_a_count_of_one_reads_in_the_singular_on_the_page(
    sandbox: SandboxHandle, client: tweepy.Client
) -> None:
    assert shown_metrics("x", {"reply_count": 1, "like_count": 2}) == [
        ("likes", 2),
        ("reply", 1),
    ]
    assert shown_metrics("facebook", {"shares": 1, "comments": 0}) == [
        ("comments", 0),
        ("share", 1),
    ]
    client.create_tweet(text="only one", user_auth=True)
    html = _page(sandbox)
    assert "(s)" not in html
    assert re.search(r"\b1 post\b", html) and not re.search(r"\b1 posts\b", html)


def test_a_bluesky_post_shows_its_likes_reposts_replies_and_quotes(
    sandbox: SandboxHandle,
) -> None:
    from bot.platforms.bluesky import BlueskyPlatform
    from bot.platforms.bluesky.credentials import pack
    from bot.platforms.http import ANY_HOST

    made = sandbox.admin.create_bluesky_account("bakers-branch", followers=5000)
    creds = pack(sandbox.admin.bluesky_session(made["did"]))
    BlueskyPlatform(routes={ANY_HOST: sandbox.url}).publish(creds, "Stand with the reps")
    sandbox.admin.advance_clock(86400)
    html = _page(sandbox, account=f"bluesky:{made['did']}")
    [line] = re.findall(r'data-testid="engagement">([^<]+)</span>', html)
    assert re.fullmatch(r"[\d,]+ likes? · [\d,]+ reposts? · [\d,]+ repl(y|ies) · .*", line)
    assert '<span class="tag bluesky">bluesky</span>' in html


def test_a_mastodon_status_shows_its_favourites_boosts_and_replies(
    sandbox: SandboxHandle,
) -> None:
    made = sandbox.admin.create_mastodon_account("page.example", "pagerep", followers=5000)
    posted = requests.post(
        f"{sandbox.url}/_host/page.example/api/v1/statuses",
        json={"status": "Solidarity from the fediverse"},
        headers={"Authorization": f"Bearer {made['access_token']}"},
        timeout=5,
    )
    assert posted.status_code == 200
    sandbox.admin.advance_clock(86400)
    html = _page(sandbox, account=f"mastodon:{made['id']}")
    assert "@pagerep@page.example" in html and "Solidarity from the fediverse" in html
    assert re.search(r"\d+ favourites?", html) and re.search(r"\d+ boosts?", html)
