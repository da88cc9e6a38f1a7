"""`schedules export`: a campaign's pending posts as a file that applies back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from bot.campaigns.embargo import Reader
from bot.campaigns.schedules.export import LeftOut, export_campaign
from tests.support.factories import queue, spec

SOON = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
LATER = (datetime.now(UTC) + timedelta(days=40)).strftime("%Y-%m-%d")

# Threads, texts per platform, links, named targets, hold, zones and a time that happens
# twice (London's clocks go back at 02:00 on 2027-10-31), emoji, several lines and '#'.
SCHEDULE = f"""\
campaign: fujitsu
timezone: Europe/London
defaults:
  to: [x, facebook]
posts:
  - id: thread
    at: {LATER} 18:00
    thread:
      - "1/ Fujitsu sacked our rep for organising. #DefendTheUnion"
      - "2/ Demo Monday 8:30 ✊🏽"
      - "3/ Bring a flag"
    link: https://example.org/demo?ref=x
  - id: per-platform
    at: {LATER} 09:15
    text:
      x: "Short for X: sign now"
      facebook: |
        A longer Facebook post.

        Over several lines: with a colon, a # and trailing text.
    link: https://example.org/petition
  - id: named
    at: {LATER} 12:00
    to: [x:@union]
    text: Only on X, from @union
  - id: held
    at: {SOON} 10:00
    to: [facebook]
    text: Held by Facebook itself
    facebook: {{hold: true}}
  - id: new-york
    at: {LATER} 07:00
    timezone: America/New_York
    text: "Solidarity from New York: 07:00 there"
  - id: twice
    at: 2027-10-31 01:30 +00:00
    to: [x]
    text: The second 01:30 of the night the clocks go back
  - id: link-inside
    at: {LATER} 19:00
    to: [x]
    text: "Read https://example.org/why first"
    link: https://example.org/why
"""


def _apply_file(cli, tmp_path, name, text, *args):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return cli("apply", str(path), *args)


def test_an_exported_campaign_applies_back_with_everything_unchanged(with_accounts, tmp_path):
    applied = _apply_file(with_accounts, tmp_path, "mine.yaml", SCHEDULE)
    assert applied.exit_code == 0, applied.output
    assert "7 posts were created" in applied.output

    out = tmp_path / "exported.yaml"
    exported = with_accounts("schedules", "export", "fujitsu", "-o", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"wrote 7 pending posts of fujitsu to {out}" in exported.output

    dry = with_accounts("apply", "--dry-run", str(out))
    assert dry.exit_code == 0, dry.output
    assert "7 posts would be unchanged" in dry.output
    assert "created" not in dry.output and "updated" not in dry.output
    document = yaml.safe_load(out.read_text(encoding="utf-8"))
    by_id = {post["id"]: post for post in document["posts"]}
    assert by_id["thread"]["thread"][0] == (
        "1/ Fujitsu sacked our rep for organising. #DefendTheUnion"
    )
    assert by_id["thread"]["link"] == "https://example.org/demo?ref=x"
    assert by_id["per-platform"]["text"]["x"] == "Short for X: sign now"
    assert by_id["named"]["to"] == ["x:@union"]
    assert by_id["held"]["facebook"] == {"hold": True}
    assert by_id["new-york"]["timezone"] == "America/New_York"
    assert by_id["new-york"]["at"] == f"{LATER} 07:00"
    assert by_id["twice"]["at"] == "2027-10-31 01:30 +00:00"


def test_an_edited_export_updates_only_the_post_that_changed(with_accounts, tmp_path):
    _apply_file(with_accounts, tmp_path, "mine.yaml", SCHEDULE)
    text = with_accounts("schedules", "export", "fujitsu").output
    edited = text.replace("Only on X, from @union", "Only on X, from @union, edited")
    result = _apply_file(with_accounts, tmp_path, "edited.yaml", edited)
    assert result.exit_code == 0, result.output
    assert "1 post was updated: fujitsu/named" in result.output
    assert "6 posts were unchanged" in result.output


def test_export_leaves_out_cancelled_posts_and_reminders_and_says_so(with_accounts, tmp_path):
    reminders = f"""\
campaign: fujitsu
timezone: Europe/London
posts:
  - id: keep
    at: {LATER} 18:00
    to: [x]
    text: Still to go
  - id: dropped
    at: {LATER} 19:00
    to: [x]
    text: Called off
events:
  - id: demo
    title: Demo at Fujitsu
    starts: {LATER} 08:30
    place: Fujitsu HQ
    reminders: [-1d]
    to: [x]
    text: "Demo {{when}} at {{place}}"
"""
    assert _apply_file(with_accounts, tmp_path, "r.yaml", reminders).exit_code == 0
    assert with_accounts("posts", "cancel", "fujitsu/dropped").exit_code == 0
    runtime = with_accounts.runtime()
    with runtime.sessions() as session:
        exported = export_campaign(session, "fujitsu", reader=Reader("cli:test"))
    assert exported.posts == ("keep",)
    assert dict(exported.left_out) == {"demo@-1d": LeftOut.REMINDER, "dropped": LeftOut.CANCELLED}
    assert "#   dropped: cancelled" in exported.text
    assert "#   demo@-1d: a reminder of an event" in exported.text


def test_a_post_queued_for_x_alone_on_the_command_line_exports_unchanged(with_accounts, tmp_path):
    added = with_accounts(
        "posts", "add", "--campaign", "cli", "--id", "from-cli", "--to", "x",
        "--at", f"{LATER} 10:00", "--link", "https://example.org/x", "1/ One", "2/ Two",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    out = tmp_path / "cli.yaml"
    assert with_accounts("schedules", "export", "cli", "-o", str(out)).exit_code == 0
    dry = with_accounts("apply", "--dry-run", str(out))
    assert "1 post would be unchanged: cli/from-cli" in dry.output, dry.output


def test_exporting_an_unknown_campaign_names_the_ones_there_are(with_accounts, tmp_path):
    _apply_file(with_accounts, tmp_path, "mine.yaml", SCHEDULE)
    result = with_accounts("schedules", "export", "fujitsoo")
    assert result.exit_code == 1
    assert "no campaign 'fujitsoo'; campaigns: fujitsu" in result.output


def test_a_thread_whose_facebook_text_is_not_the_thread_joined_is_left_out_and_named(
    with_accounts,
):
    runtime = with_accounts.runtime()
    # Built in code, not from a file: Facebook gets the parts joined with their numbers,
    # which no schedule file can say (a file's thread drops them for Facebook).
    queue(
        runtime.sessions,
        spec(key="numbered", campaign="odd", to=("x", "facebook"), thread=("1/ A", "2/ B")),
        spec(key="plain", campaign="odd", to=("x",)),
    )
    with runtime.sessions() as session:
        exported = export_campaign(session, "odd", reader=Reader("cli:test"))
    assert exported.posts == ("plain",)
    assert exported.left_out == (("numbered", LeftOut.NOT_EXPRESSIBLE),)
    assert "#   numbered: cannot be written as a schedule file exactly" in exported.text


def test_a_time_with_fractions_of_a_second_is_written_to_the_second_and_said_so(
    with_accounts, tmp_path
):
    added = with_accounts("posts", "add", "--campaign", "soon", "--id", "in-an-hour",
                          "--to", "x", "--in", "1h", "Picket in an hour")  # fmt: skip
    assert added.exit_code == 0, added.output
    out = tmp_path / "soon.yaml"
    assert with_accounts("schedules", "export", "soon", "-o", str(out)).exit_code == 0
    text = out.read_text()
    assert "# Written to the second" in text and "in-an-hour" in text
    dry = with_accounts("apply", "--dry-run", str(out))
    assert "1 post would be updated: soon/in-an-hour" in dry.output


def test_bluesky_threads_and_own_texts_export_and_apply_back_unchanged(with_accounts, tmp_path):
    from tests.support.factories import add_account

    runtime = with_accounts.runtime()
    add_account(runtime.sessions, runtime.vault, "bluesky", "union.bsky.social")
    schedule = f"""\
campaign: fujitsu
timezone: Europe/London
posts:
  - id: bsky-thread
    at: {LATER} 18:00
    to: [x, bluesky]
    thread: ["1/ We voted YES #PayBallot", "2/ Now we negotiate"]
    link: https://example.org/result
  - id: bsky-own
    at: {LATER} 19:00
    to: [x, facebook, bluesky]
    text:
      x: "Short for X"
      facebook: "Longer for Facebook"
      bluesky: "Just right for Bluesky 🦋"
"""
    applied = _apply_file(with_accounts, tmp_path, "bsky.yaml", schedule)
    assert applied.exit_code == 0, applied.output
    out = tmp_path / "exported.yaml"
    exported = with_accounts("schedules", "export", "fujitsu", "-o", str(out))
    assert "wrote 2 pending posts" in exported.output, exported.output
    dry = with_accounts("apply", "--dry-run", str(out))
    assert "2 posts would be unchanged" in dry.output, dry.output
    by_id = {p["id"]: p for p in yaml.safe_load(out.read_text(encoding="utf-8"))["posts"]}
    assert by_id["bsky-thread"]["thread"] == ["1/ We voted YES #PayBallot", "2/ Now we negotiate"]
    assert by_id["bsky-own"]["text"]["bluesky"] == "Just right for Bluesky 🦋"
