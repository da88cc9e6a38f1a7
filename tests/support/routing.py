"""Route the real tweepy clients to a sandbox, for these tests only.

The production rerouting lives in bot/platforms/http/routes.py (another module's job);
this is the same idea kept local so the sandbox's tests do not depend on it.
OAuth signatures are computed over the original https://api.x.com (or api.twitter.com) URL before a
request reaches the transport, so rewriting the URL here leaves them valid.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import requests
import tweepy
import tweepy.asynchronous
from requests.adapters import HTTPAdapter
from yarl import URL

ORIGINS = (
    "https://api.x.com",
    "https://api.twitter.com",
    "https://graph.facebook.com",
    "https://www.facebook.com",
)


class SandboxAdapter(HTTPAdapter):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        url = request.url or ""
        for origin in ORIGINS:
            if url.startswith(origin):
                request.url = self.base_url + url[len(origin) :]
                break
        return super().send(request, *args, **kwargs)


def route_session(session: requests.Session, base_url: str) -> requests.Session:
    adapter = SandboxAdapter(base_url)
    for origin in ORIGINS:
        session.mount(origin, adapter)
    return session


def x_client(base_url: str, creds: dict[str, str], **options: Any) -> tweepy.Client:
    from bot.sandbox.options import SandboxOptions

    defaults = SandboxOptions()
    client = tweepy.Client(
        consumer_key=options.pop("consumer_key", defaults.consumer_key),
        consumer_secret=options.pop("consumer_secret", defaults.consumer_secret),
        access_token=creds["access_token"],
        access_token_secret=creds["access_token_secret"],
        **options,
    )
    route_session(client.session, base_url)
    return client


def aiohttp_rerouting(base_url: str) -> Any:
    """An aiohttp client middleware (aiohttp >= 3.12) that sends requests to the sandbox.

    tweepy's AsyncClient hard-codes "https://api.twitter.com" but accepts a ``session``;
    a session with this middleware is the one seam, no patching needed.
    """
    base = base_url.rstrip("/")

    async def reroute(request: aiohttp.ClientRequest, handler: Any) -> aiohttp.ClientResponse:
        url = request.url
        if url.scheme == "https" and url.host in ("api.x.com", "api.twitter.com"):
            request.url = URL(base + url.raw_path_qs, encoded=True)
        response: aiohttp.ClientResponse = await handler(request)
        return response

    return reroute


def async_x_client(
    base_url: str, creds: dict[str, str], session: aiohttp.ClientSession
) -> tweepy.asynchronous.AsyncClient:
    from bot.sandbox.options import SandboxOptions

    defaults = SandboxOptions()
    client = tweepy.asynchronous.AsyncClient(
        consumer_key=defaults.consumer_key,
        consumer_secret=defaults.consumer_secret,
        access_token=creds["access_token"],
        access_token_secret=creds["access_token_secret"],
    )
    client.session = session
    return client
