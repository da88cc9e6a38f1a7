"""Bulk seeding for benchmarks: many accounts, each with many posts, in one admin call.

``POST /_sandbox/seed`` with ``{"platform": "x"|"facebook", "accounts": 100,
"posts_per_account": 1000, "followers": 2000, "age_seconds": 3600}`` creates the accounts
(with tokens) and their posts straight in the sandbox's state, skipping the posting
checks (rate limits, duplicate detection) a real POST would run: creating 100,000 posts
through the API would take the benchmark minutes before it measured anything. Posts are
backdated by ``age_seconds`` of protocol (real) time, so they already have engagement
(that much, plus the accelerated time since the sandbox started if it came later).
Answers every account with its token and post ids.
"""

from __future__ import annotations

import itertools
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.sandbox.state import SandboxState
from bot.sandbox.x.state import Tweet

MAX_POSTS = 1_000_000
_batch = itertools.count(1)


def _x(state: SandboxState, accounts: int, per: int, followers: int, age: float) -> list[Any]:
    x = state.x
    out = []
    batch = next(_batch)
    with x.lock:
        created = x.clock.time() - age
        for a in range(accounts):
            user = x.create_user(f"b{batch}x{a}"[:15], followers)
            token = x.issue_token(user.id)
            ids = []
            for p in range(per):
                tweet_id = x.next_id()
                text = f"Bench post {a}-{p}"
                # shown="" would t.co-process every text; ours hold no links.
                x.tweets[tweet_id] = Tweet(
                    tweet_id, user.id, text, created, None, tweet_id, [], False, text
                )
                x.timelines[user.id].append(tweet_id)
                ids.append(tweet_id)
            out.append(
                {
                    "id": user.id,
                    "username": user.username,
                    "access_token": token.token,
                    "access_token_secret": token.secret,
                    "post_ids": ids,
                }
            )
    return out


def _facebook(
    state: SandboxState, accounts: int, per: int, followers: int, age: float
) -> list[Any]:
    fb = state.fb
    if fb is None:
        raise ValueError("this sandbox has no Facebook part")
    out = []
    batch = next(_batch)
    created = fb.now() - age
    for a in range(accounts):
        page = fb.create_page(f"Bench {batch}-{a}", followers=followers)
        user_token = fb.issue_user_token(page.admins[0], long_lived=True)
        page_token = fb.page_token(user_token, page.id)
        messages = [f"Bench post {a}-{p}" for p in range(per)]
        ids = fb.seed_posts(page.id, messages, created)
        out.append(
            {"id": page.id, "name": page.name, "page_token": page_token.value, "post_ids": ids}
        )
    return out


async def seed(request: Request) -> Response:
    state: SandboxState = request.app.state.sandbox
    try:
        data = await request.json()
        platform = str(data.get("platform", ""))
        accounts = int(data.get("accounts", 1))
        per = int(data.get("posts_per_account", 1))
        followers = int(data.get("followers", 1000))
        age = float(data.get("age_seconds", 3600))
        if accounts < 1 or per < 1 or accounts * per > MAX_POSTS or followers < 0:
            raise ValueError(f"1 to {MAX_POSTS} posts, at least one account")
        if platform == "x":
            created = _x(state, accounts, per, followers, age)
        elif platform == "facebook":
            created = _facebook(state, accounts, per, followers, age)
        else:
            raise ValueError("platform must be 'x' or 'facebook'")
    except (ValueError, TypeError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    state.mark_dirty()
    return JSONResponse({"accounts": created}, 201)


def routes() -> list[BaseRoute]:
    return [Route("/seed", seed, methods=["POST"])]
