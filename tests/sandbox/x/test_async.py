"""tweepy's AsyncClient (aiohttp) against the sandbox, rerouted by a session middleware."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bot.sandbox.testing import SandboxHandle
from tests.support.routing import aiohttp_rerouting, async_x_client

# tweepy.asynchronous needs async-lru (tweepy's "async" extra), which is not in the
# project's dependencies yet.
pytest.importorskip("async_lru", reason="tweepy.asynchronous needs async-lru")
import tweepy.asynchronous  # noqa: E402


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_async_client_creates_looks_up_and_deletes(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    async def scenario() -> tuple[Any, Any, Any]:
        async with aiohttp.ClientSession(middlewares=(aiohttp_rerouting(sandbox.url),)) as s:
            client = async_x_client(sandbox.url, alice, s)
            created = await client.create_tweet(text="async hello", user_auth=True)
            found = await client.get_tweet(
                created.data["id"], tweet_fields=["public_metrics"], user_auth=True
            )
            deleted = await client.delete_tweet(created.data["id"], user_auth=True)
            return created, found, deleted

    created, found, deleted = run(scenario())
    assert created.data["text"] == "async hello"
    assert found.data.public_metrics["impression_count"] >= 0
    assert deleted.data == {"deleted": True}
    assert sandbox.admin.posts("x", alice["id"]) == []


def test_async_client_signs_queries_the_sandbox_accepts(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    # AsyncClient signs the query itself (with colons percent-encoded); the sandbox must
    # verify exactly what it signed.
    async def scenario() -> Any:
        async with aiohttp.ClientSession(middlewares=(aiohttp_rerouting(sandbox.url),)) as s:
            client = async_x_client(sandbox.url, alice, s)
            await client.create_tweet(text="timeline entry", user_auth=True)
            return await client.get_users_tweets(
                alice["id"],
                start_time="2000-01-01T00:00:00Z",
                tweet_fields=["created_at"],
                user_auth=True,
            )

    response = run(scenario())
    assert [t.text for t in response.data] == ["timeline entry"]


def test_async_client_sees_401_for_a_revoked_token(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    sandbox.admin.revoke("x", alice["access_token"])

    async def scenario() -> None:
        async with aiohttp.ClientSession(middlewares=(aiohttp_rerouting(sandbox.url),)) as s:
            await async_x_client(sandbox.url, alice, s).get_me(user_auth=True)

    with pytest.raises(tweepy.errors.Unauthorized):
        run(scenario())
