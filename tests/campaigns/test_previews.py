"""Counts and previews for the composer: X's and Facebook's own rules, the link as X
shows it."""

from __future__ import annotations

from bot.campaigns import text_rules
from bot.campaigns.previews import display_url, link_domain, preview

TAGGED = "https://www.union.example.org/fujitsu/demo-eve?utm_source=x&utm_medium=social"


def test_x_shows_a_link_without_its_scheme_and_cuts_a_long_one():
    assert display_url("https://union.example.org/fujitsu") == "union.example.org/fujitsu"
    assert display_url(TAGGED) == "union.example.org/fujitsu/demo…"
    assert display_url("http://www.example.org") == "example.org"


def test_each_x_part_is_counted_by_x_weights_with_the_link_in_the_first():
    shown = preview(("Demo tomorrow 日本", "2/ See you there 👋"), None, TAGGED)
    first, second = shown.x
    assert first.count.length == text_rules.weighted_length(f"Demo tomorrow 日本\n{TAGGED}")
    assert first.count.length == len("Demo tomorrow ") + 2 * 2 + 1 + 23
    assert second.count.length == len("2/ See you there ") + 2
    assert first.count.left == 280 - first.count.length and not first.count.over


def test_the_x_preview_never_shows_the_raw_tagged_link():
    [part] = preview(("Demo",), None, TAGGED).x
    text = "".join(s.text for s in part.segments)
    assert "utm_" not in text and "https://" not in text
    assert [s.text for s in part.segments if s.is_link] == ["union.example.org/fujitsu/demo…"]


def test_a_part_over_the_limit_carries_xs_own_refusal():
    [part] = preview(("a" * 281,), None, None).x
    assert part.count.over and part.count.left == -1
    assert part.count.problem is not None and "shorten by 1" in part.count.problem


def test_facebook_counts_characters_and_shows_the_link_as_a_card_with_its_domain():
    shown = preview((), "Demo tomorrow 👋", TAGGED)
    assert shown.facebook is not None
    assert shown.facebook.count.length == len("Demo tomorrow 👋")
    assert shown.facebook.count.left == 63206 - shown.facebook.count.length
    assert shown.facebook.card_domain == link_domain(TAGGED) == "UNION.EXAMPLE.ORG"
    assert "utm_" not in "".join(s.text for s in shown.facebook.segments)
