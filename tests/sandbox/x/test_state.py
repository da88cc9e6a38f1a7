"""How the sandbox stores X posts and shows their text."""

from __future__ import annotations

import random

import twitter_text

from bot.sandbox.x.state import MAYBE_URL, shown_text


def test_shown_text_wraps_links_and_escapes_entities() -> None:
    shown = shown_text("Go <now> & sign: example.org/p?a=1&b=2 ok", salt="1")
    prefix, rest = shown.split("https://t.co/")
    assert prefix == "Go &lt;now&gt; &amp; sign: "
    assert len(rest) == len("0123456789 ok")
    assert rest.endswith(" ok")


def test_shown_text_is_stable_per_post_and_differs_between_posts() -> None:
    assert shown_text("see x.co", "1") == shown_text("see x.co", "1")
    assert shown_text("see x.co", "1") != shown_text("see x.co", "2")


def test_the_url_precheck_never_misses_a_link_twitter_text_finds() -> None:
    rng = random.Random(3)
    pieces = ["a", "é", ".", " ", "co", "org", "x", "1", "-", "_", "/", "https://", "www", "中"]
    for _ in range(1500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 20)))
        if twitter_text.extract_urls(text):
            assert MAYBE_URL(text), text
