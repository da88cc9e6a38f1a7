"""Schedule files: what volunteers write, what Clarion makes of it, and every refusal."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.campaigns.schedules.files import discover, load_files, load_text
from bot.campaigns.schedules.times import TimeProblem, parse_time
from bot.campaigns.specs import Location, PostSpec, Problem, SpecError
from bot.campaigns.text_rules import weighted_length

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "schedules"
LONDON = ZoneInfo("Europe/London")


def load(text: str, *, default_timezone: str = "Europe/London") -> list[PostSpec]:
    # Tests write HEAD unindented followed by an indented triple-quoted body.
    head = HEAD if text.startswith(HEAD) else ""
    text = head + textwrap.dedent(text[len(head) :])
    return load_text(text, source="camp.yaml", default_timezone=default_timezone)


def problems(text: str) -> list[Problem]:
    with pytest.raises(SpecError) as caught:
        load(text)
    return caught.value.problems


def only_problem(text: str) -> Problem:
    found = problems(text)
    assert len(found) == 1, "\n".join(str(p) for p in found)
    return found[0]


HEAD = """\
campaign: pay-ballot
timezone: Europe/London
"""


# --- what loads ------------------------------------------------------------------------


def test_the_three_example_files_load_without_problems() -> None:
    paths = discover(REPO / "schedules")
    assert [p.name for p in paths] == [
        "ballot-result.yaml",
        "fujitsu-demo.yaml",
        "petition-push.yaml",
    ]
    specs = load_files(paths, default_timezone="UTC")
    keys = {(s.campaign, s.key) for s in specs}
    assert ("fujitsu-victimisation", "fujitsu-demo@-7d") in keys
    assert ("fujitsu-victimisation", "demo-eve") in keys
    assert ("pay-ballot", "result-thread") in keys
    thread = next(s for s in specs if s.key == "result-thread")
    assert thread.kind == "thread"
    assert 3 <= len(thread.parts["x"]) <= 4
    # Written as days from the day they are applied: all within the next two weeks.
    today = datetime.now(UTC)
    assert all(today < s.scheduled_at < today + timedelta(days=15) for s in specs)


def test_a_simple_post_becomes_one_spec_with_an_aware_time() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: demo-eve
            at: 2027-03-08 18:00
            to: [x, facebook]
            text: |
              Tomorrow 8:30am: demo outside Fujitsu. #DefendTheUnion
        """
    )
    assert spec.campaign == "pay-ballot"
    assert spec.key == "demo-eve"
    assert spec.kind == "post"
    assert spec.scheduled_at == datetime(2027, 3, 8, 18, 0, tzinfo=LONDON)
    assert spec.scheduled_at.utcoffset() == timedelta(0)
    assert spec.timezone == "Europe/London"
    assert spec.targets == ("x", "facebook")
    text = "Tomorrow 8:30am: demo outside Fujitsu. #DefendTheUnion"
    assert spec.parts == {"x": (text,), "facebook": (text,)}
    assert spec.source == Location("camp.yaml", 5)
    assert spec.link is None
    assert spec.hold_on_facebook is False


def test_summer_time_is_applied_from_the_zone() -> None:
    [spec] = load(HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], text: hi}]")
    assert spec.scheduled_at.astimezone(UTC) == datetime(2027, 7, 1, 11, 0, tzinfo=UTC)


def test_a_post_may_use_its_own_time_zone() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: nyc
            at: 2027-07-01 12:00
            timezone: America/New_York
            to: [x]
            text: Solidarity from London to New York
        """
    )
    assert spec.timezone == "America/New_York"
    assert spec.scheduled_at.astimezone(UTC) == datetime(2027, 7, 1, 16, 0, tzinfo=UTC)


def test_the_default_time_zone_applies_when_the_file_names_none() -> None:
    [spec] = load(
        "campaign: c\nposts: [{id: a, at: 2027-07-01 12:00, to: [x], text: hi}]",
        default_timezone="Asia/Tokyo",
    )
    assert spec.timezone == "Asia/Tokyo"
    assert spec.scheduled_at.astimezone(UTC).hour == 3


def test_times_yaml_reads_as_timestamps_are_understood_too() -> None:
    # PyYAML types these as datetimes (UTC-aware, naive); we read what was written.
    specs = load(
        HEAD
        + """
        posts:
          - {id: zulu, at: 2027-07-01T12:00:00Z, to: [x], text: a}
          - {id: seconds, at: 2027-07-01 12:00:00, to: [x], text: b}
          - {id: offset, at: 2027-07-01 12:00 +02:00, to: [x], text: c}
          - {id: quoted, at: "2027-07-01 12:00", to: [x], text: d}
        """
    )
    utc = {s.key: s.scheduled_at.astimezone(UTC).hour for s in specs}
    assert utc == {"zulu": 12, "seconds": 11, "offset": 10, "quoted": 11}
    assert all(s.scheduled_at.tzinfo is UTC for s in specs)


def test_defaults_give_every_post_its_targets_unless_it_says_otherwise() -> None:
    specs = load(
        HEAD
        + """
        defaults: {to: [x, facebook]}
        posts:
          - {id: a, at: 2027-07-01 12:00, text: both}
          - {id: b, at: 2027-07-01 13:00, to: ["x:@union_branch"], text: one}
        """
    )
    assert [s.targets for s in specs] == [("x", "facebook"), ("x:@union_branch",)]
    assert list(specs[1].parts) == ["x"]


def test_per_platform_text_gives_each_platform_its_own_wording() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: fund
            at: 2027-05-14 18:00
            to: [x, facebook]
            text:
              x: "Short and sharp. #PayUp"
              facebook: |
                The longer version,

                with paragraphs.
        """
    )
    assert spec.parts["x"] == ("Short and sharp. #PayUp",)
    assert spec.parts["facebook"] == ("The longer version,\n\nwith paragraphs.",)


def test_a_link_is_added_to_the_x_text_and_kept_apart_for_facebook() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: sign
            at: 2027-04-12 08:00
            to: [x, facebook]
            text: Sign the petition
            link: https://example.org/petition
            facebook: {hold: true}
        """
    )
    assert spec.parts["x"] == ("Sign the petition\nhttps://example.org/petition",)
    assert spec.parts["facebook"] == ("Sign the petition",)
    assert spec.link == "https://example.org/petition"
    assert spec.hold_on_facebook is True


def test_a_thread_posts_parts_on_x_and_one_joined_post_on_facebook() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [x, facebook]
            link: https://example.org/result
            thread:
              - "1/ We voted YES: 89% on a 61% turnout."
              - "2/ Management must now negotiate."
              - "3/ Thank you, every rep."
        """
    )
    assert spec.kind == "thread"
    assert spec.parts["x"] == (
        "1/ We voted YES: 89% on a 61% turnout.\nhttps://example.org/result",
        "2/ Management must now negotiate.",
        "3/ Thank you, every rep.",
    )
    assert spec.parts["facebook"] == (
        "We voted YES: 89% on a 61% turnout.\n\nManagement must now negotiate.\n\n"
        "Thank you, every rep.",
    )


def test_a_thread_to_mastodon_is_replies_there_too_with_the_link_in_part_one() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [x, facebook, mastodon]
            link: https://example.org/result
            thread: ["1/ We voted YES.", "2/ Thank you, every rep."]
        """
    )
    assert (
        spec.parts["mastodon"]
        == spec.parts["x"]
        == (
            "1/ We voted YES.\nhttps://example.org/result",
            "2/ Thank you, every rep.",
        )
    )


def test_mastodon_gets_its_own_wording_and_its_length_waits_for_the_accounts_server() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: long
            at: 2027-05-14 12:00
            to: [x, mastodon]
            text:
              x: Short for X
              mastodon: "%s"
        """
        % ("m" * 900)
    )
    # 900 characters: too long for a server at Mastodon's default 500, fine on one that
    # allows more; checked when queued, against each account's own server.
    assert spec.parts == {"x": ("Short for X",), "mastodon": ("m" * 900,)}
    assert (
        "empty"
        in only_problem(
            HEAD
            + """
        posts:
          - id: empty
            at: 2027-05-14 12:00
            to: [mastodon]
            text: {mastodon: " "}
        """
        ).message
    )


def test_a_thread_whose_later_part_has_the_link_is_refused_rather_than_linked_twice() -> None:
    problem = only_problem(
        HEAD
        + """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [x]
            link: https://example.org/result
            thread: ["1/ Result is in.", "2/ Read it: https://example.org/result"]
        """
    )
    assert problem.field == "posts[result].thread[2]"
    assert "remove 'link:' or take the address out of part 2" in problem.message


def test_a_thread_whose_first_part_has_the_link_is_not_given_it_twice() -> None:
    [spec] = load(
        HEAD
        + """
        posts:
          - id: result
            at: 2027-05-14 12:00
            to: [x]
            link: https://example.org/result
            thread: ["1/ Read it: https://example.org/result", "2/ Share it."]
        """
    )
    assert spec.parts["x"] == ("1/ Read it: https://example.org/result", "2/ Share it.")


def test_an_unquoted_hashtag_would_be_lost_as_a_comment_so_it_is_refused() -> None:
    problem = only_problem(
        HEAD + "posts:\n  - id: a\n    at: 2027-07-01 12:00\n    to: [x]\n"
        "    text: Join the picket #DefendTheUnion\n"
    )
    assert problem.where.line == 7
    assert problem.value == "Join the picket #DefendTheUnion"
    assert "read as a YAML comment and would not be posted" in problem.message


def test_hashtags_in_quoted_or_block_text_are_kept() -> None:
    specs = load(
        HEAD
        + """
        posts:
          - {id: a, at: 2027-07-01 12:00, to: [x], text: "Picket #DefendTheUnion"}
          - id: b
            at: 2027-07-01 12:00
            to: [x]
            text: >
              Picket #DefendTheUnion
        """
    )
    assert [s.parts["x"][0] for s in specs] == ["Picket #DefendTheUnion"] * 2


# --- events and reminders ---------------------------------------------------------------

EVENT = (
    HEAD
    + """
    events:
      - id: fujitsu-demo
        title: Demo against victimisation
        starts: 2026-12-08 08:30
        place: Fujitsu London HQ, 22 Baker Street
        reminders: [-7d, -1d, -2h]
        to: [x, facebook]
        text: "{title}: {when} at {place}"
    """
)


def test_an_event_expands_into_one_reminder_per_offset() -> None:
    specs = load(EVENT)
    assert [s.key for s in specs] == ["fujitsu-demo@-7d", "fujitsu-demo@-1d", "fujitsu-demo@-2h"]
    assert {s.kind for s in specs} == {"reminder"}
    assert {s.event for s in specs} == {"fujitsu-demo"}
    assert [s.scheduled_at for s in specs] == [
        datetime(2026, 12, 1, 8, 30, tzinfo=LONDON),
        datetime(2026, 12, 7, 8, 30, tzinfo=LONDON),
        datetime(2026, 12, 8, 6, 30, tzinfo=LONDON),
    ]
    assert specs[2].source == Location("camp.yaml", 9)


def test_when_is_written_humanely_relative_to_each_reminder() -> None:
    texts = [s.parts["x"][0] for s in load(EVENT)]
    place = "Fujitsu London HQ, 22 Baker Street"
    assert texts == [
        f"Demo against victimisation: on Tuesday 8 December at 8:30am at {place}",
        f"Demo against victimisation: tomorrow at 8:30am at {place}",
        f"Demo against victimisation: in 2 hours (8:30am) at {place}",
    ]


def test_reminder_offsets_combine_units_and_are_keyed_canonically() -> None:
    specs = load(EVENT.replace("[-7d, -1d, -2h]", "[-1w, -1d 2h, -90m, -6h]"))
    assert [s.key for s in specs] == [
        "fujitsu-demo@-7d",
        "fujitsu-demo@-1d2h",
        "fujitsu-demo@-1h30m",
        "fujitsu-demo@-6h",
    ]
    whens = [s.parts["x"][0].split(": ", 1)[1].split(" at Fujitsu")[0] for s in specs]
    assert whens == [
        "on Tuesday 8 December at 8:30am",
        "tomorrow at 8:30am",
        "in 1 hour 30 minutes (8:30am)",
        "today at 8:30am",  # -6h is 2:30am on the day itself
    ]


def test_a_day_offset_keeps_the_wall_clock_time_across_a_clock_change() -> None:
    specs = load(
        EVENT.replace("2026-12-08 08:30", "2027-03-29 08:30").replace(
            "[-7d, -1d, -2h]", "[-1d, -24h]"
        )
    )
    # Clocks go forward on 28 March 2027: "-1d" is 8:30 BST, "-24h" is 24 elapsed hours.
    assert specs[0].scheduled_at == datetime(2027, 3, 28, 8, 30, tzinfo=LONDON)
    assert specs[1].scheduled_at == datetime(2027, 3, 28, 8, 30, tzinfo=LONDON)
    specs = load(
        EVENT.replace("2026-12-08 08:30", "2027-03-28 08:30").replace(
            "[-7d, -1d, -2h]", "[-1d, -24h]"
        )
    )
    assert specs[0].scheduled_at == datetime(2027, 3, 27, 8, 30, tzinfo=LONDON)
    assert specs[1].scheduled_at == datetime(2027, 3, 27, 7, 30, tzinfo=LONDON)


def test_starts_date_and_time_placeholders_are_filled_in() -> None:
    [spec, *_] = load(EVENT.replace("{title}: {when} at {place}", "{starts} | {date} | {time}"))
    assert spec.parts["x"] == ("Tuesday 8 December at 8:30am | Tuesday 8 December | 8:30am",)


def test_noon_and_whole_hours_are_written_the_way_people_say_them() -> None:
    specs = load(EVENT.replace("08:30", "12:00").replace("[-7d, -1d, -2h]", "[-2h]"))
    assert "in 2 hours (12 noon)" in specs[0].parts["x"][0]
    specs = load(EVENT.replace("08:30", "18:00").replace("[-7d, -1d, -2h]", "[-10h]"))
    assert "today at 6pm" in specs[0].parts["x"][0]


def test_a_reminder_for_next_year_names_the_year() -> None:
    specs = load(EVENT.replace("2026-12-08", "2027-01-05").replace("[-7d, -1d, -2h]", "[-7d]"))
    assert "on Tuesday 5 January 2027 at 8:30am" in specs[0].parts["x"][0]


def test_each_rendered_reminder_is_length_checked_for_x() -> None:
    long_title = "T" * 240
    found = problems(EVENT.replace("Demo against victimisation", long_title))
    assert len(found) == 3  # every reminder, each saying which one
    assert "the reminder at -7d (on Tuesday 8 December at 8:30am)" in found[0].message
    assert found[0].field == "events[fujitsu-demo].text"
    assert found[0].where.line == 11


def test_reminders_must_be_offsets_before_the_start() -> None:
    found = problems(EVENT.replace("[-7d, -1d, -2h]", "[7d, +1h, -0m, soon, -1d, -24h, -1d]"))
    by_value = {p.value: p.message for p in found}
    assert "minus sign, e.g. -7d" in by_value["7d"]
    assert "minus sign, e.g. -1h" in by_value["+1h"]
    assert "is zero" in by_value["-0m"]
    assert "is not an offset" in by_value["soon"]
    assert "same reminder as -1d" in by_value["-1d"]
    assert "-24h" not in by_value  # 24 elapsed hours is not the same as a calendar day
    assert {p.field for p in found} == {"events[fujitsu-demo].reminders"}


def test_unknown_placeholders_are_refused_with_a_suggestion() -> None:
    problem = only_problem(EVENT.replace("{when}", "{whn}"))
    assert problem.field == "events[fujitsu-demo].text"
    assert "unknown placeholder {whn}; did you mean 'when'?" in problem.message


def test_place_is_required_when_the_text_uses_it() -> None:
    without_place = "\n".join(line for line in EVENT.splitlines() if "place: " not in line)
    problem = only_problem(without_place)
    assert "uses {place} but the event has no 'place'" in problem.message


def test_a_stray_brace_in_an_event_text_is_explained() -> None:
    problem = only_problem(EVENT.replace("{title}:", "{title:"))
    assert "without its partner" in problem.message


# --- time problems ----------------------------------------------------------------------


def post_at(at: str) -> str:
    return HEAD + f"posts:\n  - id: a\n    at: {at}\n    to: [x]\n    text: hi\n"


def test_a_time_skipped_by_the_clocks_going_forward_is_refused() -> None:
    problem = only_problem(post_at("2027-03-28 01:30"))
    assert problem.where == Location("camp.yaml", 5)
    assert problem.field == "posts[a].at"
    assert problem.value == "2027-03-28 01:30"
    assert "does not exist in Europe/London" in problem.message
    assert "e.g. 02:30" in problem.message


def test_a_time_repeated_by_the_clocks_going_back_is_refused_with_both_offsets() -> None:
    problem = only_problem(post_at("2027-10-31 01:30"))
    assert "happens twice in Europe/London" in problem.message
    assert "'2027-10-31 01:30 +01:00' (the first)" in problem.message
    assert "'2027-10-31 01:30 +00:00' (the second)" in problem.message


def test_an_explicit_offset_settles_a_repeated_time() -> None:
    [first] = load(post_at("2027-10-31 01:30 +01:00"))
    [second] = load(post_at("2027-10-31 01:30 +00:00"))
    assert second.scheduled_at - first.scheduled_at == timedelta(hours=1)


def test_a_day_counted_from_the_apply_date_is_that_wall_clock_time_in_the_files_zone() -> None:
    applied = datetime(2027, 3, 20, 23, 30, tzinfo=UTC)
    [spec] = load_text(
        post_at("+7d 18:00"), source="camp.yaml", default_timezone="UTC", now=applied
    )
    assert spec.scheduled_at == datetime(2027, 3, 27, 18, 0, tzinfo=UTC)  # GMT
    in_tokyo = post_at("+7d 18:00").replace("Europe/London", "Asia/Tokyo")
    [tokyo] = load_text(in_tokyo, source="camp.yaml", default_timezone="UTC", now=applied)
    # Already the 21st in Tokyo when applied: a week on is the 28th, 18:00 JST.
    assert tokyo.scheduled_at == datetime(2027, 3, 28, 9, 0, tzinfo=UTC)
    [later] = load_text(
        post_at("+8d 18:00"), source="camp.yaml", default_timezone="UTC", now=applied
    )
    assert later.scheduled_at == datetime(2027, 3, 28, 17, 0, tzinfo=UTC)  # BST from the 28th


def test_today_and_tomorrow_name_the_apply_dates_days() -> None:
    applied = datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    [today] = load_text(post_at("today 18:00"), source="c", default_timezone="UTC", now=applied)
    [tomorrow] = load_text(
        post_at("Tomorrow 9:05"), source="c", default_timezone="UTC", now=applied
    )
    assert today.scheduled_at == datetime(2027, 6, 1, 17, 0, tzinfo=UTC)
    assert tomorrow.scheduled_at == datetime(2027, 6, 2, 8, 5, tzinfo=UTC)


def test_a_day_counted_from_today_is_refused_in_a_clock_change_gap_like_a_date() -> None:
    applied = datetime(2027, 3, 27, 12, 0, tzinfo=UTC)
    with pytest.raises(SpecError) as caught:
        load_text(post_at("+1d 01:30"), source="c", default_timezone="UTC", now=applied)
    [problem] = caught.value.problems
    assert problem.value == "+1d 01:30"
    assert "does not exist in Europe/London" in problem.message


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("+9999d 10:00", "write at most +3660d"),
        ("+7d 24:00", "is not a time of day"),
        ("+7d", "write YYYY-MM-DD HH:MM (24-hour)"),
    ],
)
def test_a_badly_written_day_from_today_says_what_to_write(written: str, expected: str) -> None:
    problem = only_problem(post_at(written))
    assert problem.value == written
    assert expected in problem.message


def test_parse_time_without_an_apply_date_refuses_a_day_counted_from_it() -> None:
    with pytest.raises(TimeProblem, match="counted from today, which is not known here"):
        parse_time("+7d 18:00", LONDON)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2027-03-01", "needs a time as well as a date"),
        ("18:00", "needs a date as well as a time"),
        ("next tuesday", "write YYYY-MM-DD HH:MM (24-hour)"),
        ("2027-02-30 10:00", "is not a real date and time"),
        ("2027-03-01 25:00", "is not a real date and time"),
    ],
)
def test_badly_written_times_say_what_to_write(written: str, expected: str) -> None:
    problem = only_problem(post_at(written))
    assert problem.value == written
    assert expected in problem.message


def test_an_unknown_time_zone_suggests_the_iana_name() -> None:
    problem = only_problem(HEAD.replace("Europe/London", "London") + "posts: []")
    assert problem.field == "timezone"
    assert problem.where.line == 2
    assert "use an IANA name such as Europe/London" in problem.message


def test_a_bad_default_time_zone_is_an_operator_error() -> None:
    with pytest.raises(ValueError, match="default time zone 'Mars/Olympus'"):
        load_text("campaign: c", source="x.yaml", default_timezone="Mars/Olympus")


# --- structure problems -----------------------------------------------------------------


def test_an_unknown_key_is_refused_with_a_did_you_mean() -> None:
    problem = only_problem(
        HEAD + "posts:\n  - id: a\n    at: 2027-07-01 12:00\n    to: [x]\n    text: hi\n"
        "    lnik: https://example.org\n"
    )
    assert problem.where.line == 8
    assert problem.field == "posts[a].lnik"
    assert "unknown setting 'lnik'; did you mean 'link'?" in problem.message


def test_words_people_commonly_use_point_at_the_real_key() -> None:
    problem = only_problem(
        HEAD + "posts:\n  - id: a\n    time: 2027-07-01 12:00\n    at: 2027-07-01 12:00\n"
        "    to: [x]\n    text: hi\n"
    )
    assert "did you mean 'at'?" in problem.message


def test_to_written_as_a_single_word_is_a_clear_error() -> None:
    problem = only_problem(HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: x, text: hi}]")
    assert problem.field == "posts[a].to"
    assert problem.value == "x"
    assert "must be a list, not text; for example: to: [x, facebook]" in problem.message


def test_text_written_as_a_list_points_to_thread() -> None:
    problem = only_problem(HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], text: [a, b]}]")
    assert problem.value == "[a, b]"
    assert "use 'thread:' instead" in problem.message


def test_unknown_platforms_and_bad_handles_are_refused() -> None:
    found = problems(
        HEAD + "posts: [{id: a, at: 2027-07-01 12:00, text: hi, "
        "to: [twitter, 'x:@much_too_long_a_handle', x, x]}]"
    )
    messages = {p.value: p.message for p in found}
    assert "did you mean 'x'?" in messages["twitter"]
    assert "1-15 letters" in messages["x:@much_too_long_a_handle"]
    assert "listed twice" in messages["x"]


def test_a_post_needs_an_id_a_time_a_target_and_text() -> None:
    found = problems(HEAD + "posts:\n  - link: https://example.org\n")
    assert {p.field for p in found} == {
        "posts[1].id",
        "posts[1].at",
        "posts[1].to",
        "posts[1].text",
    }
    assert all(p.where.line == 4 for p in found)


def test_per_platform_text_must_cover_every_target_and_nothing_else() -> None:
    found = problems(
        HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], text: {facebook: hi, twiter: yo}}]"
    )
    by_field = {p.field: p.message for p in found}
    assert "has no text for it" in by_field["posts[a].text.x"]
    assert "'to' does not post there" in by_field["posts[a].text.facebook"]
    assert "did you mean 'x'?" in by_field["posts[a].text.twiter"]


def test_text_and_thread_together_are_refused() -> None:
    problem = only_problem(
        HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], text: hi, thread: [a, b]}]"
    )
    assert "either 'text' or 'thread', not both" in problem.message


def test_a_one_part_thread_is_refused() -> None:
    problem = only_problem(HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], thread: [a]}]")
    assert "at least 2 parts" in problem.message


def test_every_part_of_a_thread_is_length_checked_for_x() -> None:
    long = "a" * 281
    found = problems(
        HEAD + f"posts:\n  - id: t\n    at: 2027-07-01 12:00\n    to: [x]\n"
        f"    thread:\n      - ok\n      - {long}\n      - '   '\n"
    )
    assert [(p.field, p.where.line) for p in found] == [
        ("posts[t].thread[2]", 9),
        ("posts[t].thread[3]", 10),
    ]
    assert "part 2 of the thread is 281 characters" in found[0].message
    assert "part 3 of the thread is empty" in found[1].message


def test_the_link_is_counted_in_the_x_length() -> None:
    text = "a" * 260
    fits = HEAD + f"posts: [{{id: a, at: 2027-07-01 12:00, to: [x, facebook], text: {text}}}]"
    assert load(fits)
    problem = only_problem(fits.replace("text:", "link: https://example.org/p, text:"))
    assert problem.field == "posts[a].text"
    assert problem.message.startswith("for X, the text with the link is 284 characters")
    assert weighted_length(text + "\nhttps://example.org/p") == 284


def test_a_link_must_be_a_web_address() -> None:
    problem = only_problem(
        HEAD + "posts: [{id: a, at: 2027-07-01 12:00, to: [x], text: hi, link: example.org}]"
    )
    assert "e.g. https://example.org" in problem.message


def test_hold_must_be_true_or_false_and_needs_facebook() -> None:
    found = problems(
        HEAD
        + """
        posts:
          - {id: a, at: 2027-07-01 12:00, to: [x, facebook], text: hi, facebook: {hold: maybe}}
          - {id: b, at: 2027-07-01 12:00, to: [x], text: hi, facebook: {hold: true}}
        """
    )
    assert [p.field for p in found] == ["posts[a].facebook.hold", "posts[b].facebook.hold"]
    assert "must be true or false" in found[0].message
    assert "only applies to Facebook" in found[1].message


def test_the_campaign_must_be_a_slug_and_suggests_one() -> None:
    problem = only_problem(
        "campaign: Fujitsu Demo!\nposts: [{id: a, at: 2027-07-01 12:00, to: [x], text: hi}]"
    )
    assert problem.field == "campaign"
    assert "e.g. 'fujitsu-demo'" in problem.message


def test_a_key_given_twice_in_one_mapping_is_refused() -> None:
    problem = only_problem(
        HEAD + "posts:\n  - id: a\n    at: 2027-07-01 12:00\n    to: [x]\n    text: one\n"
        "    text: two\n"
    )
    assert problem.where.line == 8
    assert "given twice" in problem.message


def test_a_file_with_nothing_to_post_is_refused() -> None:
    problem = only_problem(HEAD)
    assert "no posts or events" in problem.message


def test_an_empty_file_is_refused() -> None:
    problem = only_problem("# nothing yet\n")
    assert "the file is empty" in problem.message


def test_every_problem_in_a_file_is_reported_at_once_in_line_order() -> None:
    found = problems(
        """\
        campaign: Bad Name
        timezone: Europe/London
        posts:
          - id: a
            at: 2027-03-28 01:30
            to: [x]
            text: hi
          - id: a
            at: tomorrow
            to: [myspace]
            text: hi
        """
    )
    assert [p.where.line for p in found] == [1, 5, 8, 9, 10]
    assert [p.field for p in found] == [
        "campaign",
        "posts[a].at",
        "posts[a].id",
        "posts[a].at",
        "posts[a].to",
    ]


def test_a_yaml_syntax_error_names_the_file_and_line() -> None:
    problem = only_problem(HEAD + "posts:\n  - id: a\n    text: Demo: bring banners\n    to: [x]\n")
    assert problem.where == Location("camp.yaml", 5)
    assert problem.field == "YAML"
    assert problem.value == "text: Demo: bring banners"
    assert "mapping values are not allowed" in problem.message


def test_an_unclosed_quote_points_at_where_it_started() -> None:
    with pytest.raises(SpecError) as caught:
        load_files([FIXTURES / "broken-syntax.yaml"], default_timezone="UTC")
    [problem] = caught.value.problems
    assert problem.where.file == str(FIXTURES / "broken-syntax.yaml")
    assert "that starts on line 5" in problem.message


def test_python_tags_are_refused_not_executed() -> None:
    found = problems(
        "campaign: !!python/str pay\n"
        "posts: [{id: a, at: 2027-07-01 12:00, to: [facebook], text: hi,\n"
        "  facebook: {hold: !!python/object/apply:os.system [echo]}}]\n"
    )
    assert [p.field for p in found] == ["campaign", "posts[a].facebook.hold"]
    assert "uses the YAML tag 'tag:yaml.org,2002:python/str'" in found[0].message
    assert "must be true or false" in found[1].message


# --- several files ----------------------------------------------------------------------


def test_discover_finds_yaml_and_yml_files_sorted_and_skips_hidden_ones() -> None:
    assert [p.name for p in discover(FIXTURES)] == [
        "broken-syntax.yaml",
        "first.yaml",
        "other-campaign.yaml",
        "second.yml",
    ]


def test_discover_refuses_a_path_that_is_not_a_directory() -> None:
    with pytest.raises(NotADirectoryError):
        discover(FIXTURES / "first.yaml")


def test_discover_finds_nothing_in_a_directory_that_does_not_exist(tmp_path: Path) -> None:
    assert discover(tmp_path / "schedules") == []


def test_a_day_offset_that_lands_in_the_skipped_hour_moves_past_it() -> None:
    specs = load(
        EVENT.replace("2026-12-08 08:30", "2027-03-29 01:30").replace("[-7d, -1d, -2h]", "[-1d]")
    )
    # 01:30 on 28 March 2027 does not exist in London; the reminder goes at 02:30 BST.
    assert specs[0].scheduled_at == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_an_id_used_twice_in_a_campaign_across_files_names_both_places() -> None:
    with pytest.raises(SpecError) as caught:
        load_files(
            [FIXTURES / "first.yaml", FIXTURES / "second.yml", FIXTURES / "other-campaign.yaml"],
            default_timezone="UTC",
        )
    [problem] = caught.value.problems
    assert problem.where == Location(str(FIXTURES / "second.yml"), 9)
    assert problem.value == "launch"
    assert f"{FIXTURES / 'first.yaml'}:5" in problem.message
    assert "in campaign 'shared-campaign'" in problem.message


def test_the_same_id_in_different_campaigns_is_fine() -> None:
    specs = load_files(
        [FIXTURES / "first.yaml", FIXTURES / "other-campaign.yaml"], default_timezone="UTC"
    )
    assert [(s.campaign, s.key) for s in specs] == [
        ("shared-campaign", "launch"),
        ("shared-campaign", "push"),
        ("another-campaign", "launch"),
    ]


def test_posts_and_events_share_one_id_namespace() -> None:
    problem = only_problem(
        EVENT + "posts: [{id: fujitsu-demo, at: 2027-07-01 12:00, to: [x], text: hi}]"
    )
    assert "'fujitsu-demo' is already used" in problem.message


def test_problems_from_every_file_are_reported_together() -> None:
    with pytest.raises(SpecError) as caught:
        load_files(
            [FIXTURES / "broken-syntax.yaml", Path("does-not-exist.yaml"), FIXTURES / "first.yaml"],
            default_timezone="UTC",
        )
    files = [p.where.file for p in caught.value.problems]
    assert files == [str(FIXTURES / "broken-syntax.yaml"), "does-not-exist.yaml"]
    assert "cannot be read" in caught.value.problems[1].message


def test_a_relative_path_stays_relative_in_locations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)
    specs = load_files([Path("first.yaml")], default_timezone="UTC")
    assert specs[0].source == Location("first.yaml", 5)


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("campaign: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load_files([path], default_timezone="UTC")
    assert "not UTF-8" in caught.value.problems[0].message


def test_the_error_message_lists_every_problem_and_says_nothing_changed() -> None:
    with pytest.raises(SpecError) as caught:
        load(post_at("2027-03-28 01:30").replace("to: [x]", "to: [fb]"))
    text = str(caught.value)
    assert text.startswith("2 problems found; nothing was changed:")
    assert "camp.yaml:5: posts[a].at='2027-03-28 01:30': does not exist" in text
    assert "camp.yaml:6: posts[a].to='fb': unknown platform 'fb'; did you mean 'facebook'?" in text


def test_thousands_of_problems_show_the_first_hundred_and_count_the_rest() -> None:
    many = "".join(
        f"  - id: p{i}\n    at: 2031-01-01 10:00\n    to: [fb]\n    text: Hi\n" for i in range(250)
    )
    with pytest.raises(SpecError) as caught:
        load(f"campaign: camp\ntimezone: UTC\nposts:\n{many}")
    assert len(caught.value.problems) == 250  # every one is kept for the console
    text = str(caught.value)
    assert text.startswith("250 problems found; nothing was changed:")
    assert text.count("unknown platform 'fb'") == 100
    assert text.endswith("… and 150 more (fix these and check again)")


# --- smaller rules ----------------------------------------------------------------------


def test_ids_are_read_as_written_not_as_yaml_numbers_or_booleans() -> None:
    specs = load(
        HEAD
        + """
        posts:
          - {id: 007, at: 2027-07-01 12:00, to: [x], text: a}
          - {id: yes, at: 2027-07-01 12:00, to: [x], text: b}
        """
    )
    assert [s.key for s in specs] == ["007", "yes"]


def test_an_id_with_capitals_or_spaces_is_refused_with_a_suggestion() -> None:
    problem = only_problem(HEAD + "posts: [{id: Demo Eve, at: 2027-07-01 12:00, to: [x], text: a}]")
    assert problem.field == "posts[1].id"
    assert "e.g. 'demo-eve'" in problem.message


def test_yaml_anchors_and_merge_keys_can_share_settings_between_posts() -> None:
    specs = load(
        HEAD
        + """
        posts:
          - &common {id: a, at: 2027-07-01 12:00, to: [x, facebook], text: one}
          - <<: *common
            id: b
            text: two
        """
    )
    assert [(s.key, s.targets, s.parts["facebook"]) for s in specs] == [
        ("a", ("x", "facebook"), ("one",)),
        ("b", ("x", "facebook"), ("two",)),
    ]


def test_an_id_merged_in_with_an_anchor_still_counts_for_uniqueness() -> None:
    problem = only_problem(
        HEAD
        + """
        posts:
          - &common {id: a, at: 2027-07-01 12:00, to: [x], text: one}
          - <<: *common
            text: two
        """
    )
    assert problem.field == "posts[a].id"
    assert problem.where.line == 6
    assert "the id 'a' is already used in campaign 'pay-ballot' at camp.yaml:5" in problem.message


def test_posts_must_be_a_list() -> None:
    problem = only_problem(HEAD + "posts:\n  id: a\n  at: 2027-07-01 12:00\n")
    assert problem.field == "posts"
    assert "must be a list" in problem.message


def test_a_broken_defaults_to_is_reported_once_not_on_every_post() -> None:
    found = problems(
        HEAD
        + """
        defaults: {to: [twiter]}
        posts:
          - {id: a, at: 2027-07-01 12:00, text: one}
          - {id: b, at: 2027-07-01 13:00, text: two}
        """
    )
    assert [p.field for p in found] == ["defaults.to"]


def test_unknown_defaults_are_refused() -> None:
    problem = only_problem(
        HEAD + "defaults: {to: [x], timezone: UTC}\nposts: [{id: a, at: 2027-07-01 12:00, text: a}]"
    )
    assert problem.field == "defaults.timezone"
    assert "allowed here: to, facebook" in problem.message


def test_hold_in_defaults_applies_only_to_posts_that_go_to_facebook() -> None:
    specs = load(
        HEAD
        + """
        defaults: {to: [x, facebook], facebook: {hold: true}}
        posts:
          - {id: a, at: 2027-07-01 12:00, text: both}
          - {id: b, at: 2027-07-01 12:00, to: [x], text: x only}
          - {id: c, at: 2027-07-01 12:00, text: not held, facebook: {hold: false}}
        """
    )
    assert [s.hold_on_facebook for s in specs] == [True, False, False]


def test_an_event_needs_its_id_title_start_reminders_and_text() -> None:
    found = problems(HEAD + "events:\n  - place: Baker Street\n    to: [x]\n")
    assert [p.field for p in found] == [
        "events[1].id",
        "events[1].title",
        "events[1].starts",
        "events[1].reminders",
        "events[1].text",
    ]


def test_an_event_may_have_its_own_time_zone_and_per_platform_text() -> None:
    specs = load(
        HEAD
        + """
        events:
          - id: nyc-rally
            title: Rally
            starts: 2027-07-04 12:00
            timezone: America/New_York
            reminders: [-1h]
            to: [x, facebook]
            text:
              x: "Rally {when}"
              facebook: "Our rally starts {when}. {title}!"
        """
    )
    [spec] = specs
    assert spec.timezone == "America/New_York"
    assert spec.scheduled_at == datetime(2027, 7, 4, 15, 0, tzinfo=UTC)
    assert spec.parts == {
        "x": ("Rally in 1 hour (12 noon)",),
        "facebook": ("Our rally starts in 1 hour (12 noon). Rally!",),
    }


def test_every_documented_setting_exists_and_every_setting_is_documented() -> None:
    from bot.campaigns.schedules.events import EVENT_KEYS, PLACEHOLDERS
    from bot.campaigns.schedules.files import DEFAULT_KEYS, POST_KEYS, TOP_KEYS

    doc = (REPO / "docs" / "schedule-files.md").read_text(encoding="utf-8")
    for key in {*TOP_KEYS, *DEFAULT_KEYS, *POST_KEYS, *EVENT_KEYS}:
        assert f"`{key}`" in doc, key
    for name in PLACEHOLDERS:
        assert f"`{{{name}}}`" in doc, name


def test_a_very_long_x_text_is_refused_before_counting_naming_its_length_and_limit() -> None:
    # twitter-text's count grows with the text; a pasted article must not stall `apply`.
    text = "word " * 12_000  # 60,000 characters
    started = time.perf_counter()
    problem = only_problem(
        HEAD + f"posts:\n  - id: a\n    at: 2027-07-01 12:00\n    to: [x]\n    text: {text}\n"
    )
    elapsed = time.perf_counter() - started
    assert (problem.field, problem.where.file, problem.where.line) == (
        "posts[a].text",
        "camp.yaml",
        7,
    )
    assert "is 59,999 characters" in problem.message
    assert "280" in problem.message and "2,000" in problem.message
    assert elapsed < 0.3, f"took {elapsed:.2f}s"
