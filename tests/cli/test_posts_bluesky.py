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


def test_a_card_link_the_bluesky_lexicon_refuses_is_refused_at_queue_time_naming_it(cli):
    runtime = cli.runtime()
    add_account(runtime.sessions, runtime.vault, "bluesky", "union.bsky.social")
    # A web address the queue's own check accepts, but 8 KB or more: the atproto SDK's
    # app.bsky.feed.post model refuses it as the card's URI, as the PDS would.
    link = "https://union.example/petition?ref=" + "a" * 8200
    refused = cli("posts", "add", "--in", "1h", "--to", "bluesky", "--link", link, "Sign it")
    assert refused.exit_code != 0
    assert "external.uri" in refused.output and "would be refused by Bluesky" in refused.output
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Post)) == 0
    queued = cli.json(
        "posts", "add", "--in", "1h", "--to", "bluesky", "--link", link[:60], "Sign it"
    )
    assert [d["platform"] for d in queued["deliveries"]] == ["bluesky"]
