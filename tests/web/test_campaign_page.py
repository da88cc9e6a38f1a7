"""The public campaign page: message, progress, countdown, reach, share tags, outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.engagement import report
from bot.engagement.poll import poller_for
from bot.engagement.report import Total
from bot.pledges import images, release
from bot.runtime.wiring import Runtime
from bot.storage.models import Pledge, PledgeCampaign, PledgeCampaignState
from bot.web.app import create_web_app
from bot.web.campaign import shown, time_left
from tests.support import pictures
from tests.support.web import Clock, add_campaign, csrf_of, pledge_x, released_with_one_failure


def test_the_page_shows_message_progress_countdown_and_support_buttons(
    client: TestClient, clock: Clock, runtime: Runtime
) -> None:
    add_campaign(runtime, release_at=clock.now + timedelta(days=2, hours=3, minutes=5))
    html = client.get("/c/fujitsu").text
    assert '<html lang="en">' in html and html.count("<h1") == 1
    assert "<h1>Defend the union at Fujitsu</h1>" in html
    assert '<progress id="progress" max="3" value="0">0%</progress>' in html
    assert '<label for="progress">0 of 3 supporters</label>' in html
    assert "<strong>2 days, 3 hours</strong> left" in html
    assert "Stand with the Fujitsu reps at 8:30" in html
    assert "Support with X" in html and "Support with a Facebook Page" in html
    assert "not to personal profiles" in html


def test_open_graph_and_twitter_card_tags_use_absolute_urls(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    html = client.get("/c/fujitsu").text
    assert '<meta property="og:url" content="http://testserver/c/fujitsu">' in html
    assert '<meta property="og:title" content="Defend the union at Fujitsu">' in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert '<meta property="og:description" content="Stop the victimisation of reps.">' in html


def test_the_progress_bar_and_reach_move_when_someone_pledges(
    client: TestClient, sandbox, campaign: str
) -> None:
    sandbox.admin.create_x_user("big_voice", followers=1234)
    pledge_x(client, "big_voice")
    html = client.get("/c/fujitsu").text
    assert '<progress id="progress" max="3" value="1">33%</progress>' in html
    assert '<span data-testid="reach">1,234</span>' in html


def test_after_the_release_the_page_shows_how_many_posts_went_out(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
) -> None:
    real_now = datetime.now(UTC)
    clock.now = real_now - timedelta(hours=1)
    add_campaign(runtime, goal=1, release_at=real_now - timedelta(minutes=1), window_minutes=0)
    pledge_x(client, "rep_out")
    clock.now = real_now
    assert [o.state for o in release.run_due(runtime.sessions, real_now)] == ["releasing"]
    going = client.get("/c/fujitsu").text
    assert "It is going out now" in going and "<strong>0 of 1</strong>" in going
    assert "Support with X" not in going
    with runtime.sessions() as session:
        (delivery_id,) = session.scalars(select(Pledge.delivery_id)).all()
    assert delivery_id is not None
    runtime.deliverer().run(delivery_id)
    release.run_due(runtime.sessions, datetime.now(UTC))
    done = client.get("/c/fujitsu").text
    assert "It went out" in done and "<strong>1 of 1</strong>" in done and "(X: 1)" in done
    user = next(u for u in sandbox.admin.x_users() if u["username"] == "rep_out")
    assert [p["text"] for p in sandbox.admin.posts("x", user["id"])][0].startswith(
        "Stand with the Fujitsu reps at 8:30"
    )


def test_a_missed_goal_says_nothing_was_posted(
    client: TestClient, clock: Clock, runtime: Runtime, campaign: str
) -> None:
    with runtime.sessions() as session:
        session.query(PledgeCampaign).one().state = PledgeCampaignState.GOAL_MISSED
        session.commit()
    clock.now += timedelta(days=3)
    html = client.get("/c/fujitsu").text
    assert "nothing was posted" in html


def test_an_unknown_campaign_is_a_friendly_404(client: TestClient) -> None:
    response = client.get("/c/nope")
    assert response.status_code == 404
    assert "No such campaign" in response.text


def test_time_left_reads_as_words() -> None:
    assert time_left(2 * 86400 + 3 * 3600 + 59) == "2 days, 3 hours"
    assert time_left(3600 + 60) == "1 hour, 1 minute"
    assert time_left(300) == "5 minutes"
    assert time_left(12) == "less than a minute"


def _unlabelled_fields(html: str) -> list[str]:
    """Visible inputs and textareas with neither a <label for=id> nor an aria-label,
    and not wrapped in a <label>."""
    import re

    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    wrapped = {m for m in re.findall(r"<label><input[^>]*name=\"([^\"]+)\"", html)}
    missing = []
    for tag in re.findall(r"<(?:input|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag or "aria-label=" in tag:
            continue
        ident = re.search(r'id="([^"]+)"', tag)
        name = re.search(r'name="([^"]+)"', tag)
        if not (ident and ident.group(1) in labelled) and not (name and name.group(1) in wrapped):
            missing.append(tag)
    return missing


def test_every_field_on_the_pages_has_a_label(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    private = pledge_x(client, "rep_a11y")
    page = client.get(private)
    client.post(
        private + "/edit",
        data={"csrf": page.text.split('name="csrf" value="')[1].split('"')[0], "email": "a@b.co"},
    )
    for path in ("/c/fujitsu", private):
        html = client.get(path).text
        assert html.count("<h1") == 1
        assert _unlabelled_fields(html) == []
    assert "<input" in client.get(private).text


# -- the outcome after the release ------------------------------------------------------


def test_before_the_release_the_page_has_no_outcome_section(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    html = client.get("/c/fujitsu").text
    assert "How far it went" not in html and 'data-testid="outcome-details"' not in html
    assert "Engagement so far" not in html


def test_after_the_release_the_page_shows_sent_failed_reach_and_then_engagement(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
) -> None:
    released_with_one_failure(client, clock, runtime, sandbox)
    first = client.get("/c/fujitsu").text
    assert "How far it went" in first and "It went out" in first
    # X: 1 published, 1 failed, 0 still going, reach of the published account only
    assert (
        '<tr><th scope="row">X</th><td data-label="Published">1</td><td data-label="Failed">1'
        '</td><td data-label="Still going">0</td><td data-label="Reach">15,000</td></tr>'
    ) in first
    assert 'data-testid="no-engagement"' in first and "No engagement recorded yet" in first
    assert 'data-testid="last-updated"' not in first

    sandbox.admin.advance_clock(86400)  # a day of engagement on the sandbox
    result = poller_for(runtime).run("fujitsu", refresh=True)
    assert result.read == 1
    html = client.get("/c/fujitsu").text
    assert "No engagement recorded yet" not in html
    with runtime.sessions() as session:
        built = report.build(session, "fujitsu")
    likes, views = built.total.metrics["likes"].value, built.total.metrics["views"].value
    assert likes and views and likes > 0 and views > likes  # the sandbox's day of growth
    assert (
        f'<tr><th scope="row">Likes and reactions</th><td data-label="X">{likes:,}</td></tr>'
        in html
    )
    assert f'<tr><th scope="row">Views</th><td data-label="X">{views:,}</td></tr>' in html
    assert 'data-testid="last-updated">Last updated <time datetime="' in html
    # No supporter's handle, token or email: the page never showed handles
    assert "loud_rep" not in html and "gone_rep" not in html


def test_an_estimate_says_so_with_its_margin_and_unavailable_is_never_zero() -> None:
    assert shown(Total(1234)) == "1,234"
    assert shown(Total(None)) == "not available"
    assert shown(Total(1200, 1100, 1350, estimated=True)) == "1,200 ±\u00a0150 (estimated)"


def test_on_an_accelerated_sandbox_the_outcome_says_the_clock_is_fast(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
) -> None:
    released_with_one_failure(client, clock, runtime, sandbox)
    assert 'data-testid="accelerated"' not in client.get("/c/fujitsu").text  # real time
    fast = runtime.with_settings(sandbox_time_acceleration=1000.0)
    app = create_web_app(fast, clock=clock)
    html = TestClient(app, base_url="http://testserver").get("/c/fujitsu").text
    assert "clock runs 1000 times faster than real time" in html
    assert "a week of engagement passes in about 10 minutes" in html


def test_inside_the_readiness_window_only_tokens_checked_in_it_count_as_ready(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
) -> None:
    add_campaign(runtime, release_at=clock.now + timedelta(days=3))
    sandbox.admin.create_x_user("early_bird", followers=500)
    pledge_x(client, "early_bird")  # verified now, at pledge time
    assert "(ready: 500)" in client.get("/c/fujitsu").text
    # two days on, the READINESS_HOURS window (24 h) has opened and no check ran yet
    clock.now += timedelta(days=2, hours=1)
    hours = runtime.settings.readiness_hours
    assert hours < 47
    assert "(ready:" not in client.get("/c/fujitsu").text


def _give_picture(runtime: Runtime, data: bytes, alt: str, slug: str = "fujitsu") -> str:
    """Store ``data`` as the campaign's picture, as `pledges edit --image` does; its sha256."""
    image = images.from_bytes(data, "banner")
    with runtime.sessions() as session:
        pc = session.scalars(select(PledgeCampaign)).one()
        assert pc.campaign.slug == slug
        pc.image_data, pc.image_type, pc.image_alt = image.data, image.media_type, alt
        pc.image_width, pc.image_height, pc.image_sha256 = image.width, image.height, image.sha256
        session.commit()
    return image.sha256


def test_the_page_shows_the_picture_with_its_alt_text_and_size_and_the_card_tags(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    sha = _give_picture(runtime, pictures.JPEG_3X2, 'Reps at the gate <"union">')
    html = client.get("/c/fujitsu").text
    src = f"/c/fujitsu/image?v={sha[:16]}"
    assert (
        f'<img class="campaign-image" src="{src}" '
        'alt="Reps at the gate &lt;&#34;union&#34;&gt;" width="3" height="2">'
    ) in html
    assert f'<meta property="og:image" content="http://testserver{src}">' in html
    assert (
        '<meta property="og:image:alt" content="Reps at the gate &lt;&#34;union&#34;&gt;">' in html
    )
    assert '<meta property="og:image:width" content="3">' in html
    assert '<meta property="og:image:height" content="2">' in html
    assert '<meta property="og:image:type" content="image/jpeg">' in html
    assert '<meta name="twitter:card" content="summary_large_image">' in html
    assert '<meta name="twitter:card" content="summary">' not in html


def test_a_campaign_without_a_picture_has_no_image_tags_and_no_image_route(
    client: TestClient, campaign: str
) -> None:
    html = client.get("/c/fujitsu").text
    assert "<img" not in html and "og:image" not in html and "twitter:image" not in html
    assert '<meta name="twitter:card" content="summary">' in html
    assert client.get("/c/fujitsu/image").status_code == 404


def test_the_image_route_answers_with_its_type_etag_and_304_when_unchanged(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    data = pictures.png(5, 3)
    sha = _give_picture(runtime, data, "A banner")
    response = client.get(f"/c/fujitsu/image?v={sha[:16]}")
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "image/png"
    assert response.headers["etag"] == f'"{sha}"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    # the bare address may later show a replaced picture: caches check back
    assert client.get("/c/fujitsu/image").headers["cache-control"] == "public, max-age=3600"
    again = client.get("/c/fujitsu/image", headers={"if-none-match": f'"{sha}"'})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == f'"{sha}"'
    stale = client.get("/c/fujitsu/image", headers={"if-none-match": '"0123", W/"4567"'})
    assert stale.status_code == 200 and stale.content == data


def test_a_replaced_picture_gets_a_new_address_and_etag(
    client: TestClient, runtime: Runtime, campaign: str
) -> None:
    first = _give_picture(runtime, pictures.png(2, 2), "A banner")
    second = _give_picture(runtime, pictures.GIF_1X1, "A dot")
    assert first != second
    html = client.get("/c/fujitsu").text
    assert f"/c/fujitsu/image?v={second[:16]}" in html and first[:16] not in html
    response = client.get("/c/fujitsu/image", headers={"if-none-match": f'"{first}"'})
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"


def test_pledging_closes_on_the_page_at_the_same_moment_as_in_the_pledge_logic(
    make_client: Callable[..., TestClient], runtime: Runtime, clock: Clock
) -> None:
    add_campaign(runtime, "soon", release_at=clock.now + timedelta(seconds=5))
    client = make_client()
    page = client.get("/c/soon")
    assert 'href="/c/soon/pledge/x"' not in page.text  # 5 s left, inside PREPARE
    assert client.get("/c/soon/pledge/x").status_code == 410
    add_campaign(runtime, "later")
    assert 'href="/c/later/pledge/x"' in client.get("/c/later").text
    csrf = csrf_of(client.get("/c/later/pledge/x").text)
    assert client.post("/c/soon/pledge/x", data={"csrf": csrf}).status_code == 410
