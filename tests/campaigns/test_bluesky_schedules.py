"""Bluesky in schedule files: `to: [.., bluesky]`, its own text, threads, its text rules."""

from __future__ import annotations

import textwrap

import pytest

from bot.campaigns.schedules.files import load_text
from bot.campaigns.specs import SpecError

HEAD = "campaign: pay-ballot\ntimezone: Europe/London\n"


def load(body: str):
    return load_text(HEAD + textwrap.dedent(body), source="camp.yaml", default_timezone="UTC")


def test_a_post_goes_to_bluesky_with_its_own_text_and_the_link_kept_out_of_it():
    [spec] = load(
        """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [x, bluesky]
            link: https://example.org/result
            text:
              x: "We voted YES"
              bluesky: "We voted YES 🦋 #PayBallot"
        """
    )
    assert spec.targets == ("x", "bluesky")
    assert spec.parts["bluesky"] == ("We voted YES 🦋 #PayBallot",)
    assert spec.parts["x"] == ("We voted YES\nhttps://example.org/result",)


def test_a_thread_goes_to_bluesky_part_by_part():
    [spec] = load(
        """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [bluesky, facebook]
            thread: ["1/ We voted YES.", "2/ Now we negotiate."]
        """
    )
    assert spec.parts["bluesky"] == ("1/ We voted YES.", "2/ Now we negotiate.")


def test_a_bluesky_part_over_300_graphemes_is_refused_naming_it():
    with pytest.raises(SpecError) as caught:
        load(
            f"""
            posts:
              - id: long
                at: 2027-05-14 12:00
                to: [bluesky]
                thread: ["1/ short", "{"a" * 301}"]
            """
        )
    [problem] = caught.value.problems
    assert problem.field == "posts[long].thread[2]"
    assert "for Bluesky" in problem.message and "shorten by 1" in problem.message
