"""`approval:` and `embargo:` in schedule files: for a whole file or one post, checked
like every other field."""

from __future__ import annotations

import pytest

from bot.campaigns.schedules.files import load_text
from bot.campaigns.specs import SpecError

POSTS = """\
posts:
  - id: result
    at: 2030-03-01 12:00
    to: [x]
    embargo: true
    text: Ballot result
  - id: thanks
    at: 2030-03-01 13:00
    to: [x]
    text: Thank you
"""


def _load(text: str):
    return load_text(text, source="ballot.yaml", default_timezone="Europe/London")


def test_a_file_that_requires_approval_requires_it_for_every_post():
    specs = _load("campaign: ballot\napproval: required\n" + POSTS)
    assert [(s.key, s.requires_approval, s.embargoed) for s in specs] == [
        ("result", True, True),
        ("thanks", True, False),
    ]


def test_one_post_may_require_approval_on_its_own():
    text = "campaign: ballot\n" + POSTS.replace(
        "    text: Thank you", "    approval: required\n    text: Thank you"
    )
    specs = _load(text)
    assert [(s.key, s.requires_approval) for s in specs] == [("result", False), ("thanks", True)]


def test_a_post_cannot_opt_out_of_its_files_approval():
    text = "campaign: ballot\napproval: required\n" + POSTS.replace(
        "    text: Thank you", "    approval: none\n    text: Thank you"
    )
    with pytest.raises(SpecError) as caught:
        _load(text)
    [problem] = caught.value.problems
    assert problem.field == "posts[thanks].approval"
    assert "cannot opt out" in problem.message


@pytest.mark.parametrize(
    ("line", "field", "words"),
    [
        ("approval: maybe", "approval", "must be 'required'"),
        ("embargo: soon", "embargo", "must be true or false"),
    ],
)
def test_a_wrong_value_names_the_field_and_what_to_write(line, field, words):
    text = "campaign: ballot\n" + POSTS.replace(
        "    text: Thank you", f"    {line}\n    text: Thank you"
    )
    with pytest.raises(SpecError) as caught:
        _load(text)
    [problem] = caught.value.problems
    assert problem.field == f"posts[thanks].{field}"
    assert words in problem.message
    assert problem.where.line == 11  # the line it was written on
