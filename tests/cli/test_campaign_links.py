"""Commands about a pledge campaign print its page's full address, never a placeholder;
with no campaign yet, the banner says how to make one."""

from __future__ import annotations

import shlex

from bot.cli.pledges import campaign_page_lines
from tests.support.cli import create

PAGE = "http://127.0.0.1:8080/c/fujitsu-demo"


def test_pledges_edit_prints_the_campaign_pages_address(cli):
    create(cli)  # asserts it worked
    result = cli("pledges", "edit", "fujitsu-demo", "--goal", "3")
    assert f"campaign page: {PAGE}" in result.output
    assert "<campaign>" not in result.output


def test_pledges_create_output_names_the_page(cli):
    result = cli(
        "pledges", "create", "morning",
        "--title", "Morning", "--text", "Stand with us", "--goal", "2",
        "--release", "2031-03-09 08:30", "--tz", "UTC",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 pledge campaign was created: morning" in result.output
    assert "campaign page: http://127.0.0.1:8080/c/morning" in result.output


def test_pledges_show_and_release_check_print_the_page(cli):
    create(cli)
    assert f"page: {PAGE}" in cli("pledges", "show", "fujitsu-demo").output
    assert cli.json("pledges", "show", "fujitsu-demo")["page"] == PAGE
    assert f"fujitsu-demo: page {PAGE}" in cli("release", "check", "fujitsu-demo").output


def test_the_page_follows_a_changed_port(cli):
    cli.config.write_text(cli.config.read_text() + "WEB_PORT=9123\n")
    create(cli)
    assert (
        "page: http://127.0.0.1:9123/c/fujitsu-demo"
        in cli("pledges", "show", "fujitsu-demo").output
    )


def test_the_start_banner_lists_each_page_or_says_how_to_make_the_first(cli):
    runtime = cli.runtime()
    with runtime.sessions() as session:
        [none_yet] = campaign_page_lines(session, runtime.settings)
    assert "none yet" in none_yet and "python main.py pledges create" in none_yet
    create(cli)
    with runtime.sessions() as session:
        assert campaign_page_lines(session, runtime.settings) == ["campaign pages:", f"  {PAGE}"]


def test_the_start_banners_create_command_works_as_printed(cli):
    runtime = cli.runtime()
    with runtime.sessions() as session:
        [none_yet] = campaign_page_lines(session, runtime.settings)
    printed = none_yet.split("`")[1]
    filled = (
        printed.replace("SLUG", "morning")
        .replace("--title ...", "--title Morning")
        .replace("--text ...", "--text 'Stand with us'")
        .replace("YYYY-MM-DD HH:MM", "2031-03-09 08:30")
    )
    args = shlex.split(filled)
    assert args[:2] == ["python", "main.py"]
    result = cli(*args[2:])
    assert result.exit_code == 0, result.output
    assert "campaign page: http://127.0.0.1:8080/c/morning" in result.output
