"""`posts add --to bluesky`: threads, own wording and Bluesky's text rules at queue time."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.storage.models import Post
from tests.support.factories import add_account


def test_a_thread_is_queued_to_bluesky_part_by_part_with_its_own_delivery(cli):
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "x", "union")
    add_account(runtime.sessions, runtime.vault, "bluesky", "union.bsky.social")
    post = cli.json(
        "posts", "add", "--in", "1h", "--to", "x", "--to", "bluesky", "1/ Ballot open", "2/ Vote"
    )
    assert post["parts"]["bluesky"] == ["1/ Ballot open", "2/ Vote"]
    assert sorted(d["platform"] for d in post["deliveries"]) == ["bluesky", "x"]


def test_own_bluesky_wording_over_300_characters_is_refused_before_anything_is_stored(cli):
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "bluesky", "union.bsky.social")
    refused = cli(
        "posts", "add", "--in", "1h", "--to", "bluesky", "--text-bluesky", "a" * 301, "Hi"
    )
    assert refused.exit_code != 0
    assert "Bluesky" in refused.output and "shorten by 1" in refused.output
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0
