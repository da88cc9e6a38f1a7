"""The public campaign page: message, progress, countdown, reach, share tags, outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from bot.db.models import Pledge, PledgeCampaign, PledgeCampaignState
from bot.pledges import release
from bot.runtime import Runtime
from bot.web.campaign import time_left
from tests.web.conftest import Clock, add_campaign, pledge_x


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
