"""Clarion sends appsecret_proof on every Graph call when it knows the app secret
(https://developers.facebook.com/docs/graph-api/securing-requests), so an app with
"Require App Secret" on works, on both paths and for every kind of call."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from bot.platforms.base import Credentials, PlatformError, Published, Wanted
from bot.platforms.facebook import FacebookMetrics, FacebookPlatform
from bot.platforms.http import async_session
from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle, running_sandbox
from tests.support.tiny_server import Answer

SECRET = SandboxOptions().fb_app_secret


@pytest.fixture
def strict() -> Iterator[SandboxHandle]:
    options = dataclasses.replace(SandboxOptions(), fb_require_appsecret_proof=True)
    with running_sandbox(options) as handle:
        yield handle


def page_of(sandbox: SandboxHandle) -> Credentials:
    page = sandbox.admin.create_page("Proof Page", followers=500)
    return Credentials(page["page_token"], "", page["page_id"])


def test_with_the_app_secret_every_call_passes_where_the_app_requires_the_proof(strict):
    fb = FacebookPlatform(graph_base_url=strict.url, www_base_url=strict.url, app_secret=SECRET)
    creds = page_of(strict)
    assert fb.verify(creds).platform_user_id == creds.platform_user_id
    posted = fb.publish(creds, "Rally on Saturday")

    since = datetime.now(UTC) - timedelta(hours=1)

    async def burst() -> list[Published | None]:
        async with async_session(timeout=5, limit=2) as session:
            publisher = fb.async_publisher(session)
            await publisher.publish(creds, "Rally on Sunday", link=None)
            # The batch look after a crash reads the feed on the same path.
            return await publisher.find_recent_many(
                creds, [Wanted("Rally on Saturday", None, since)]
            )

    (looked,) = asyncio.run(burst())
    assert looked is not None and looked.platform_id == posted.platform_id
    found = fb.find_recent(creds, "Rally on Saturday", since)
    assert found is not None and found.platform_id == posted.platform_id
    (reading,) = FacebookMetrics(fb).read(creds, [posted.platform_id])
    assert reading.platform_id == posted.platform_id
    assert len(strict.admin.posts("facebook", creds.platform_user_id)) == 2


def test_without_the_app_secret_such_an_app_refuses_the_post(strict):
    fb = FacebookPlatform(graph_base_url=strict.url, www_base_url=strict.url)
    creds = page_of(strict)
    with pytest.raises(PlatformError):
        fb.publish(creds, "Rally on Saturday")
    assert strict.admin.posts("facebook", creds.platform_user_id) == []


def test_sign_in_calls_carry_the_proof_of_the_token_they_use(tiny_server):
    tiny_server.answer = Answer(200, b'{"access_token": "long-lived", "data": []}')
    fb = FacebookPlatform(graph_base_url=tiny_server.url, app_secret="s3cret")
    fb.long_lived("100", "s3cret", "short-lived")
    fb.pages("long-lived")
    sent = []
    for seen in tiny_server.seen:
        params = parse_qs(seen.query) | parse_qs(seen.body.decode())
        token = seen.headers["Authorization"].removeprefix("Bearer ")
        sent.append((token, params["appsecret_proof"]))
    expected = {t: hmac.new(b"s3cret", t.encode(), hashlib.sha256).hexdigest() for t, _ in sent}
    assert [t for t, _ in sent] == ["short-lived", "long-lived"]
    assert all(proof == [expected[t]] for t, proof in sent)
