"""Pledging a Mastodon account on any server: the supporter names their server, signs in
on the sandbox's instance, comes back pledged; the release posts from each exactly once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.pledges import release
from bot.runtime.wiring import Runtime
from bot.storage.models import Account, MastodonApp, Pledge
from tests.support.mastodon import consent_mastodon
from tests.support.web import Clock, add_campaign, csrf_of, local

MESSAGE = {"x": "Stand with the Fujitsu reps", "mastodon": "Stand with the Fujitsu reps 🐘"}
_names = itertools.count(1)


def start(client: TestClient, server: str, slug: str = "fujitsu") -> str:
    """Press Support with Mastodon, name the server; return its authorize URL."""
    step = client.get(f"/c/{slug}/pledge/mastodon")
    assert step.status_code == 200 and 'name="server"' in step.text
    answer = client.post(
        f"/c/{slug}/pledge/mastodon", data={"csrf": csrf_of(step.text), "server": server}
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def pledge(client: TestClient, sandbox, host: str, followers: int = 300) -> str:
    name = f"rep{next(_names)}"
    sandbox.admin.create_mastodon_account(host, name, followers=followers)
    done = client.get(local(consent_mastodon(start(client, f"@{name}@{host}"), name)))
    assert done.status_code == 303, done.text
    return name


def pledged(runtime: Runtime) -> list[tuple[str, int | None]]:
    with runtime.sessions() as session:
        rows = session.execute(
            select(Account.handle, Pledge.followers).join(Pledge, Pledge.account_id == Account.id)
        ).all()
    return sorted((h, f) for h, f in rows)


def test_the_campaign_page_offers_support_with_mastodon(client: TestClient, runtime: Runtime):
    add_campaign(runtime, message=MESSAGE)
    page = client.get("/c/fujitsu").text
    assert 'href="/c/fujitsu/pledge/mastodon"' in page and "Support with Mastodon" in page
    step = client.get("/c/fujitsu/pledge/mastodon").text
    assert "Your Mastodon server" in step and "🐘" in step


def test_a_supporter_on_any_server_signs_in_there_and_is_pledged(
    client: TestClient, runtime: Runtime, sandbox
):
    add_campaign(runtime, message=MESSAGE)
    sandbox.admin.create_mastodon_account("nurses.example", "ann", followers=420)
    authorize = start(client, "Nurses.Example")
    assert authorize.startswith(f"{sandbox.url}/_host/nurses.example/oauth/authorize?")
    query = parse_qs(urlsplit(authorize).query)
    assert query["scope"] == ["read:accounts read:statuses write:statuses"]
    assert query["redirect_uri"] == ["http://testserver/c/fujitsu/mastodon/callback"]
    done = client.get(local(consent_mastodon(authorize, "ann")))
    assert done.status_code == 303
    confirmation = client.get(done.headers["location"])
    assert "Stand with the Fujitsu reps 🐘" in confirmation.text
    assert pledged(runtime) == [("ann@nurses.example", 420)]


def test_a_supporters_server_limit_is_kept_so_their_wording_may_use_it(
    client: TestClient, runtime: Runtime, sandbox
):
    add_campaign(runtime, message=MESSAGE)
    sandbox.admin.mastodon_instance("roomy.example", max_characters=1000)
    name = pledge(client, sandbox, "roomy.example")
    with runtime.sessions() as session:
        limit = session.scalar(
            select(Account.max_length).where(Account.handle == f"{name}@roomy.example")
        )
    assert limit == 1000


def test_the_app_is_registered_once_per_server_and_its_secret_is_sealed(
    client: TestClient, runtime: Runtime, sandbox
):
    add_campaign(runtime, message=MESSAGE)
    pledge(client, sandbox, "one.example")
    pledge(client, sandbox, "one.example")
    pledge(client, sandbox, "two.example")
    with runtime.sessions() as session:
        apps = session.scalars(select(MastodonApp).order_by(MastodonApp.server)).all()
        assert [a.server for a in apps] == ["https://one.example", "https://two.example"]
        assert all(a.client_secret.startswith("gAAAAA") for a in apps)
        assert session.scalar(select(func.count()).select_from(Pledge)) == 3


def test_denying_on_the_server_pledges_nothing(client: TestClient, runtime: Runtime, sandbox):
    add_campaign(runtime, message=MESSAGE)
    back = client.get(local(consent_mastodon(start(client, "deny.example"), "x", deny=True)))
    assert back.status_code == 200 and "You cancelled" in back.text
    assert pledged(runtime) == []


def test_a_forged_or_replayed_callback_is_refused(client: TestClient, runtime: Runtime, sandbox):
    add_campaign(runtime, message=MESSAGE)
    sandbox.admin.create_mastodon_account("replay.example", "bo")
    callback = local(consent_mastodon(start(client, "replay.example"), "bo"))
    assert client.get(callback.replace("state=", "state=forged")).status_code == 400
    assert client.get(callback).status_code == 303
    assert client.get(callback).status_code == 400  # used once
    assert pledged(runtime) == [("bo@replay.example", 100)]


def test_a_name_that_is_not_a_server_is_refused_in_words(client: TestClient, runtime: Runtime):
    add_campaign(runtime, message=MESSAGE)
    step = client.get("/c/fujitsu/pledge/mastodon")
    answer = client.post(
        "/c/fujitsu/pledge/mastodon", data={"csrf": csrf_of(step.text), "server": "my phone"}
    )
    assert answer.status_code == 400 and "not a Mastodon server" in answer.text


def test_a_campaign_without_a_mastodon_message_offers_no_mastodon(
    client: TestClient, runtime: Runtime
):
    add_campaign(runtime)
    assert "pledge/mastodon" not in client.get("/c/fujitsu").text
    assert client.get("/c/fujitsu/pledge/mastodon").status_code == 404


def test_the_release_posts_from_each_mastodon_pledge_exactly_once(
    client: TestClient, clock: Clock, runtime: Runtime, sandbox
):
    real_now = datetime.now(UTC)
    clock.now = real_now - timedelta(hours=1)
    add_campaign(
        runtime,
        message=MESSAGE,
        goal=2,
        release_at=real_now - timedelta(minutes=1),
        window_minutes=0,
    )
    names = [pledge(client, sandbox, host) for host in ("a.example", "b.example")]
    clock.now = real_now
    assert [o.state for o in release.run_due(runtime.sessions, real_now)] == ["releasing"]
    with runtime.sessions() as session:
        deliveries = [p.delivery_id for p in session.scalars(select(Pledge).order_by(Pledge.id))]
    deliverer = runtime.deliverer()
    assert [deliverer.run(d) for d in deliveries] == ["sent", "sent"]
    assert [deliverer.run(d) for d in deliveries] == [None, None]  # never twice
    for name, host in zip(names, ("a.example", "b.example"), strict=True):
        with runtime.sessions() as session:
            uid = session.scalar(
                select(Account.platform_user_id).where(Account.handle == f"{name}@{host}")
            )
        statuses = sandbox.admin.mastodon_statuses(host, uid.split("@")[0])
        [status] = statuses
        text, _, link = status["text"].partition("\n")
        assert text == "Stand with the Fujitsu reps 🐘"
        assert link.startswith("https://union.example/fujitsu")
