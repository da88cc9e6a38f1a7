"""The Mastodon burst path (asyncio): same statuses, same idempotency, same error classes
as the threaded path, against sandbox instances."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.platforms import base as errors
from bot.platforms.base import AuthError, Credentials, OutcomeUnknown, Published
from bot.platforms.http import ANY_HOST, async_session
from bot.platforms.mastodon import MastodonPlatform
from tests.platforms.mastodon.sandbox_accounts import (
    SCRIPTED_ROWS,
    host_of,
    new_account,
    texts_on,
)

STATUSES = r"^/api/v1/statuses$"


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.admin.clear_scripts()


@pytest.fixture
def md(sb):
    return MastodonPlatform(routes={ANY_HOST: sb.url})


def publish(platform: Any, creds: Credentials, text: str, timeout=5.0, **kw: Any) -> Published:
    """One publish on a fresh event loop and session, as the dispatcher would make it."""

    async def run() -> Published:
        async with async_session(timeout=timeout, limit=10) as session:
            publisher = platform.async_publisher(session)
            return await publisher.publish(creds, text, link=kw.pop("link", None), **kw)

    return asyncio.run(run())


def test_a_status_goes_to_the_accounts_own_instance_with_the_link_in_its_text(sb, md):
    creds = new_account(sb, host="burst.social")
    published = publish(md, creds, "Walk out at noon", link="https://union.test/w")
    assert published.url.startswith("https://burst.social/@")
    assert texts_on(sb, creds) == ["Walk out at noon\nhttps://union.test/w"]


def test_a_repeat_with_the_same_key_answers_the_status_already_made(sb, md):
    creds = new_account(sb)
    one = publish(md, creds, "Exactly once", idempotency_key="clarion-3-0-5")
    two = publish(md, creds, "Exactly once", idempotency_key="clarion-3-0-5")
    assert one.platform_id == two.platform_id
    assert texts_on(sb, creds) == ["Exactly once"]


def test_many_accounts_on_many_instances_post_at_once(sb, md):
    accounts = [new_account(sb, host=f"i{n % 4}.social") for n in range(12)]

    async def run() -> list[Published]:
        async with async_session(timeout=5, limit=20) as session:
            publisher = md.async_publisher(session)
            return await asyncio.gather(
                *(publisher.publish(c, "Together", link=None) for c in accounts)
            )

    published = asyncio.run(run())
    by_id = {p.platform_id: p for p in published}
    assert len(by_id) == 12
    for creds in accounts:
        (status,) = sb.admin.mastodon_statuses(host_of(creds), creds.platform_user_id)
        assert status["text"] == "Together"
        assert by_id[status["id"]].url.startswith(creds.server + "/@")


def test_a_revoked_token_is_an_auth_error_that_does_not_quote_it(sb, md):
    creds = new_account(sb)
    sb.admin.mastodon_revoke(host_of(creds), creds.token)
    with pytest.raises(AuthError) as caught:
        publish(md, creds, "revoked")
    assert creds.token not in caught.value.message


@pytest.mark.parametrize(("answer", "kind", "attributes"), SCRIPTED_ROWS, ids=lambda v: str(v)[:30])
def test_each_error_row_is_classified_the_same_on_the_burst_path(sb, md, answer, kind, attributes):
    creds = new_account(sb)
    sb.admin.script("mastodon", "POST", STATUSES, [answer])
    with pytest.raises(getattr(errors, kind)) as caught:
        publish(md, creds, "scripted")
    assert type(caught.value).__name__ == kind
    for name, value in attributes.items():
        assert getattr(caught.value, name) == value


@pytest.mark.parametrize("action", ["drop", "reset", "accept_then_drop"])
def test_a_connection_lost_after_sending_is_an_unknown_outcome(sb, md, action):
    creds = new_account(sb)
    sb.admin.script("mastodon", "POST", STATUSES, [{"action": action}])
    with pytest.raises(OutcomeUnknown):
        publish(md, creds, f"lost {action}")


def test_a_refused_connection_is_transient(sb, closed_port_url):
    creds = new_account(sb)
    md = MastodonPlatform(routes={ANY_HOST: closed_port_url})
    with pytest.raises(errors.TransientError, match="could not connect"):
        publish(md, creds, "nobody home")
