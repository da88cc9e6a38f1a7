"""What the commands say reads right: near-misses of a platform's name get a "did you
mean", and counts agree with their nouns and verbs."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.output import plural


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("twitter", "x"),
        ("Twitter", "x"),
        ("tw", "x"),
        ("fb", "facebook"),
        ("facebook page", "facebook"),
    ],
)
def test_a_near_miss_of_a_platform_gets_a_did_you_mean(with_accounts, written, meant):
    result = with_accounts("posts", "add", "--in", "10m", "--to", written, "Demo at 8:30")
    assert result.exit_code == 2
    assert f"unknown platform {written!r}; did you mean {meant!r}?" in result.output


def test_a_platform_in_capitals_is_that_platform(with_accounts):
    result = with_accounts("posts", "add", "--in", "10m", "--to", "X", "Demo at 8:30")
    assert result.exit_code == 0, result.output
    assert "to x @union" in result.output


def test_posts_edit_gets_the_same_did_you_mean(with_accounts):
    with_accounts("posts", "add", "--in", "10m", "--id", "demo", "--to", "x", "Demo at 8:30")
    result = with_accounts("posts", "edit", "general/demo", "--to", "twitter")
    assert result.exit_code == 2 and "did you mean 'x'?" in result.output


def test_several_platforms_in_one_to_are_answered_with_how_to_repeat_it(with_accounts):
    result = with_accounts("posts", "add", "--in", "10m", "--to", "x,facebook", "Demo at 8:30")
    assert result.exit_code == 2
    assert "give one per --to, repeated (--to x --to facebook)" in result.output
    assert "did you mean" not in result.output


def test_counts_agree_with_their_nouns_and_verbs():
    assert plural(1, "post") == "1 post"
    assert plural(0, "post") == "0 posts"
    assert plural(2, "delivery", "deliveries") == "2 deliveries"
    assert plural(1, "campaign", verb="was") == "1 campaign was"
    assert plural(3, "campaign", verb="was") == "3 campaigns were"
    assert plural(2, "account", verb="needs") == "2 accounts need"


def test_apply_counts_in_words(with_accounts, tmp_path: Path):
    path = tmp_path / "one.yaml"
    path.write_text(
        "campaign: demo\ntimezone: UTC\nposts:\n  - id: ok\n    at: 2031-03-09 10:00\n"
        "    to: [x]\n    text: Fine\n"
    )
    dry = with_accounts("apply", "--dry-run", str(path)).output
    assert "read 1 post and 0 pledge campaigns from 1 file" in dry
    assert "1 post would be created: demo/ok" in dry
    assert "1 post was created: demo/ok" in with_accounts("apply", str(path)).output
    assert "1 post was unchanged" in with_accounts("apply", str(path)).output
