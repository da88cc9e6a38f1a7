"""X's weighted length, the per-platform limits, and how a thread becomes one post."""

from __future__ import annotations

import pytest

from bot.campaigns.text_rules import check, join_thread, mastodon_length, weighted_length, x_text


def test_plain_latin_text_counts_one_per_character() -> None:
    assert weighted_length("Solidarity forever") == 18


def test_a_url_counts_23_however_long_it_is() -> None:
    short = "https://ex.org"
    long = "https://example.org/petitions/reinstate-our-union-rep-at-fujitsu?utm_source=x"
    assert weighted_length(short) == 23
    assert weighted_length(long) == 23
    assert weighted_length(f"Sign: {long}") == len("Sign: ") + 23


def test_a_bare_domain_is_a_link_too() -> None:
    assert weighted_length("example.org") == 23


def test_an_emoji_counts_two_even_when_made_of_several_code_points() -> None:
    assert weighted_length("✊") == 2
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # one emoji, five code points
    assert weighted_length(family) == 2


def test_cjk_characters_count_two_each() -> None:
    assert weighted_length("団結") == 4


def test_accented_letters_and_typographic_dashes_count_one() -> None:
    assert weighted_length("café – ok") == 9


def test_x_accepts_exactly_280() -> None:
    assert check("x", "a" * 280) is None


def test_x_refuses_281_and_says_by_how_much() -> None:
    message = check("x", "a" * 281)
    assert message is not None
    assert "281 characters by X's count" in message
    assert "the limit is 280" in message
    assert "shorten by 1" in message


def test_x_counts_the_link_as_23_plus_its_line_break_when_checking_length() -> None:
    link = "https://example.org/" + "p" * 200
    # 256 letters + line break + 23 for the link = 280: fits; one more letter does not.
    assert check("x", x_text("a" * 256, link)) is None
    assert weighted_length(x_text("a" * 257, link)) == 281
    assert check("x", x_text("a" * 257, link)) is not None


def test_the_example_message_names_the_length_and_the_fix() -> None:
    message = check("x", "b" * 274 + " https://example.org/petition")
    assert message == (
        "is 298 characters by X's count; the limit is 280 (links count as 23, "
        "emoji as 2): shorten by 18"
    )


def test_empty_and_whitespace_only_text_is_refused_on_both_platforms() -> None:
    for platform in ("x", "facebook"):
        assert check(platform, "") == "is empty; write the text of the post"
        assert check(platform, " \n\t ") == "is empty; write the text of the post"


def test_facebook_allows_63206_characters_and_not_one_more() -> None:
    assert check("facebook", "a" * 63206) is None
    message = check("facebook", "a" * 63207)
    assert message is not None
    assert "63,207 characters" in message
    assert "shorten by 1" in message


def test_facebook_does_not_weight_urls_or_emoji() -> None:
    # 280 is nothing on Facebook: a post X refuses is fine there.
    assert check("facebook", "✊" * 300) is None


def test_x_refuses_characters_it_cannot_post() -> None:
    message = check("x", "hello\ufeffworld")
    assert message is not None
    assert "U+FEFF" in message


def test_an_unknown_platform_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        check("myspace", "hi")


def test_mastodon_counts_graphemes_and_links_as_23_against_the_instances_limit() -> None:
    link = "https://union.org.uk/" + "a" * 300
    assert check("mastodon", "✊🏽" * 476 + " " + link) is None  # 476 + 1 + 23 = 500
    too_long = check("mastodon", "x" * 478 + " " + link)
    assert too_long is not None and "is 502 characters" in too_long and "by 2" in too_long
    assert check("mastodon", "x" * 900, max_length=1000) is None
    assert "limit is 800" in (check("mastodon", "x" * 900, max_length=800) or "")


def test_mastodon_counts_a_remote_mention_by_its_local_part() -> None:
    assert mastodon_length("@alice@very.long.instance.example hi") == len("@alice hi")


def test_x_text_appends_the_link_on_its_own_line() -> None:
    assert x_text("Sign the petition", "https://e.org/p") == "Sign the petition\nhttps://e.org/p"


def test_x_text_does_not_add_a_link_that_is_already_there() -> None:
    text = "Sign https://e.org/p today"
    assert x_text(text, "https://e.org/p") == text
    assert x_text(text, None) == text


def test_join_thread_separates_parts_with_a_blank_line_and_drops_numbering() -> None:
    joined = join_thread(["1/ Result is in.", "2/ We won.", "3/ Thank you."])
    assert joined == "Result is in.\n\nWe won.\n\nThank you."


def test_join_thread_drops_every_common_numbering_style() -> None:
    parts = ["1/4 One", "(2/4) Two", "[3/4] Three", "Four 4/4"]
    assert join_thread(parts) == "One\n\nTwo\n\nThree\n\nFour"


def test_join_thread_leaves_numbers_that_are_not_the_parts_position() -> None:
    parts = ["1/ Picket lines go up", "24/7 until they talk", "3/ Join us"]
    assert join_thread(parts) == "Picket lines go up\n\n24/7 until they talk\n\nJoin us"


def test_join_thread_keeps_a_part_that_is_only_a_number() -> None:
    assert join_thread(["1/", "2/ Text"]) == "1/\n\nText"
