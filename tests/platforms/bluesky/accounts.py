"""Bluesky accounts on the sandbox, shared by this folder's tests."""

from __future__ import annotations

import itertools

from bot.platforms.base import Credentials
from bot.platforms.bluesky.credentials import pack
from bot.platforms.http import ANY_HOST

_names = itertools.count(1)
CREATE = r"com\.atproto\.repo\.createRecord$"


def routes_to(sandbox_url: str) -> dict[str, str]:
    """Every host to the sandbox, as SANDBOX_URL does (bot.runtime.wiring.routes_for)."""
    return {ANY_HOST: sandbox_url}


def new_account(sb, followers: int = 100) -> tuple[dict, Credentials]:
    account = sb.admin.create_bluesky_account(f"member{next(_names)}", followers=followers)
    return account, pack(sb.admin.bluesky_session(account["did"]))


def texts_on(sb, did: str) -> list[str]:
    return [p["record"]["text"] for p in sb.admin.bluesky_posts(did)]


def xrpc_error(status: int, name: str, message: str = "", **headers: str) -> dict:
    return {"status": status, "body": {"error": name, "message": message}, "headers": headers}
