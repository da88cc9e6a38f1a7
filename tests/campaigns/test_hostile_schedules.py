"""Broken or hostile schedule files are refused with a problem naming the place, quickly,
never with a traceback, a hang or unbounded memory."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.campaigns import text_rules
from bot.campaigns.schedules.files import load_files, load_text
from bot.campaigns.schedules.sources import MAX_FILE_BYTES, read_files
from bot.campaigns.schedules.yaml_nodes import MAX_DEPTH
from bot.campaigns.specs import Problem, SpecError

HEAD = "campaign: demo\nposts:\n"


def post(text: str) -> str:
    return HEAD + f"  - id: a\n    at: 2031-01-01 10:00\n    to: [x, facebook]\n    text: {text}\n"


def event(text: str, reminders: str = "[-1d]") -> str:
    return (
        "campaign: demo\nevents:\n  - id: e\n    title: Demo\n    starts: 2031-01-01 10:00\n"
        f"    reminders: {reminders}\n    to: [facebook]\n    text: '{text}'\n"
    )


def problems_of(text: str) -> list[Problem]:
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_text(text, source="f.yaml", default_timezone="UTC")
    assert time.monotonic() - started < 5
    return caught.value.problems


def only_problem(text: str) -> Problem:
    [problem] = problems_of(text)
    return problem


def billion_laughs() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        name, before = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{before}"] * 9) + "]")
    return "\n".join(lines) + "\ncampaign: demo\nposts: *j\n"


def test_an_alias_bomb_is_refused_at_the_line_where_it_grows_too_large() -> None:
    problem = only_problem(billion_laughs())
    assert problem.where.line is not None and problem.where.line <= 10
    assert "would expand to more than 1,000,000 values" in problem.message


@pytest.mark.parametrize(
    "text",
    ["campaign: demo\nposts: &a [*a]\n", "campaign: demo\ndefaults: &d {to: *d}\nposts: []\n"],
)
def test_an_alias_inside_the_value_it_names_is_refused(text: str) -> None:
    problem = only_problem(text)
    assert problem.where.line == 2 and "would never end" in problem.message


def test_a_merge_of_a_post_into_itself_is_refused() -> None:
    problem = only_problem("campaign: demo\nposts:\n  - &p\n    <<: *p\n")
    assert "would never end" in problem.message


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused(style: str) -> None:
    if style == "flow":
        text = "campaign: demo\nposts: " + "[" * 5000 + "]" * 5000 + "\n"
    else:
        text = "campaign: demo\nposts:\n" + "".join(
            "  " * depth + "- \n" for depth in range(1, MAX_DEPTH + 5)
        )
    problem = only_problem(text)
    assert problem.field == "YAML" and "nest" in problem.message


def test_a_raw_control_character_is_refused_with_its_line_and_column() -> None:
    problem = only_problem(post("Demo\x07 tonight"))
    assert (problem.where.line, problem.field) == (6, "file")
    assert "U+0007" in problem.message and "column 15" in problem.message


@pytest.mark.parametrize(("written", "code"), [('"Demo\\x07"', "U+0007"), ('"\\ud800 demo"', None)])
def test_a_control_character_or_lone_surrogate_written_as_an_escape_is_refused(
    written: str, code: str | None
) -> None:
    problems = problems_of(post(written))
    assert problems and all(p.where.line == 6 for p in problems)
    if code:
        assert code in problems[0].message


def test_a_text_of_zero_width_characters_only_is_refused_as_empty() -> None:
    problems = problems_of(post('"\\u200b\\u2060\\ufeff"'))
    assert {p.field for p in problems} == {"posts[a].text"}
    assert all("is empty" in p.message for p in problems)


@pytest.mark.parametrize(
    "invisible",
    [
        "\\u3164\\u3164",
        "\\u2800",
        "\\u115f\\u1160",
        "\\uffa0",
        "\\u034f\\ufe0f",
        "\\u2065",
        "\\U000E0080",
    ],
    ids=[
        "hangul-filler",
        "braille-blank",
        "hangul-jamo-fillers",
        "halfwidth-filler",
        "cgj-vs16",
        "reserved-ignorable",
        "reserved-plane-14",
    ],
)
def test_a_text_of_characters_that_draw_nothing_is_refused_as_empty(invisible: str) -> None:
    problems = problems_of(post(f'"{invisible}"'))
    assert {p.field for p in problems} == {"posts[a].text"}
    assert all("is empty" in p.message for p in problems)


def test_a_huge_number_is_refused_as_out_of_range() -> None:
    text = (
        "campaign: demo\npledge_campaigns:\n  - id: a\n    title: T\n    text: Hi\n"
        f"    goal: {'9' * 5000}\n    release: 2031-01-01 10:00\n"
    )
    problem = only_problem(text)
    assert problem.field == "pledge_campaigns[1].goal" and "whole number" in problem.message


@pytest.mark.parametrize("offset", ["-99999999999999999999d", "-9999w", "-999999h"])
def test_a_reminder_years_before_its_event_is_refused(offset: str) -> None:
    problem = only_problem(event("{when}", f"[{offset}]"))
    assert problem.field == "events[e].reminders" and "3660 days" in problem.message


@pytest.mark.parametrize("year", ["0001", "9999", "1999"])
def test_a_year_far_from_now_is_refused(year: str) -> None:
    problem = only_problem(post("Demo").replace("2031-01-01", f"{year}-12-31"))
    assert problem.field == "posts[a].at" and "year from 2000 to 2999" in problem.message


def test_a_time_zone_name_of_thousands_of_characters_is_refused() -> None:
    problem = only_problem(f"campaign: demo\ntimezone: {'A' * 5000}\nposts: []\n")
    assert problem.field == "timezone" and "longer than any time zone name" in problem.message


@pytest.mark.parametrize("placeholder", ["{title:>999999999}", "{title!r}", "{when:%Y}"])
def test_a_placeholder_with_a_format_is_refused_without_filling_it_in(placeholder: str) -> None:
    problem = only_problem(event(f"Demo {placeholder}"))
    assert problem.field == "events[e].text" and "format after the name" in problem.message


def test_a_problem_repeats_a_long_value_only_in_part() -> None:
    items = ", ".join(f"item{n}" for n in range(10_000))
    problem = only_problem(f"campaign: demo\nposts: {{{items}: 1}}\n")
    assert len(problem.value) < 1000


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    [source] = read_files([fifo])
    assert source.unreadable is not None and "not a regular file" in source.unreadable


def test_a_device_is_refused_without_reading_it() -> None:
    [source] = read_files([Path("/dev/zero")])
    assert source.unreadable is not None and "not a regular file" in source.unreadable


def test_a_file_over_the_limit_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no need to write 10 MB
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_files([path], default_timezone="UTC")
    assert time.monotonic() - started < 1
    assert "the most Clarion reads is 10.0 MB" in caught.value.problems[0].message


def test_every_ascii_text_weighs_what_twitter_text_says() -> None:
    from twitter_text import parse_tweet

    for text in ["a https://x.com/b c", "x.com\r\nwww.union.org.uk/a?b=1 #t", "http://a.b " * 30]:
        assert text_rules.weighted_length(text) == parse_tweet(text).weightedLength


def test_placeholders_that_would_fill_in_to_gigabytes_are_refused_before_filling_in() -> None:
    text = (
        f"campaign: demo\nevents:\n  - id: e\n    title: '{'T' * 100_000}'\n"
        "    starts: 2031-01-01 10:00\n    reminders: [-1d]\n    to: [facebook]\n"
        f"    text: '{'{title}' * 100_000}'\n"
    )
    problem = only_problem(text)
    assert "would be 10,000,000,000 characters" in problem.message
