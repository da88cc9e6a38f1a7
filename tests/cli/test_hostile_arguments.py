"""Whatever is typed on the command line, a command answers or refuses in one line:
never a traceback. Ids out of any row's range are "no such post", not an overflow; bytes
that are not UTF-8 (which Python carries as lone surrogates) are refused by name before
any command runs; an error no command expected becomes one line naming the file that
holds its trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.cli import main
from bot.cli.crash import CRASH_DIR_VARIABLE, GuardedGroup, one_line
from bot.sandbox.cli import sandbox_command
from tests.support.cli import Cli, create
from tests.support.processes import ROOT, clean_env

# A shell passes bytes; those that are not UTF-8 reach Python as U+DC80 to U+DCFF (PEP
# 383). Hypothesis's text() leaves out surrogates unless asked for them.
undecodable = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
any_character = st.characters() | st.characters(categories=["Cs"]) | undecodable
ids = (
    st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.sampled_from(["99999999999999999999", "2147483648", "0", "٣", "²", "1e9", "demo/x"])
    | st.sampled_from(["\udcff", "demo\udc80", "\ud800", "nan", "inf", "-inf", "1e400"])
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
    | st.text(max_size=30)
    | st.text(any_character, max_size=30)
)
PLEDGE = ("pledges", "create", "demo", "--title", "Demo", "--text", "Join us", "--tz", "UTC")
PLEDGE += ("--release", "2030-01-01 10:00")
INVITE = ("users", "add", "organiser@example.org", "--role", "admin")
COMMANDS = [
    ("posts", "cancel"),
    ("posts", "show"),
    ("posts", "edit"),
    ("posts", "approve"),
    ("posts", "reject", "--why", "Wrong date"),
    ("deliveries", "list", "--post"),
    ("posts", "list", "--limit"),
    ("alerts", "list", "--limit"),
    ("posts", "add", "Demo", "--in"),
    ("posts", "add", "Demo", "--at"),
    ("posts", "add", "Demo", "--tz"),
    ("posts", "add", "--to", "x", "--in", "1h", "--"),
    (*PLEDGE, "--goal"),
    (*PLEDGE, "--window"),
    ("pledges", "edit", "demo", "--goal"),
    ("engagement", "plan", "demo", "--sample"),
    ("engagement", "plan", "demo", "--cap"),
    ("release", "status", "demo", "--json", "--every"),
    (*INVITE, "--expires"),
]


@pytest.fixture
def with_a_campaign(with_accounts: Cli) -> Cli:
    """The CLI with accounts and the pledge campaign 'demo', which the pledge, engagement
    and release commands among COMMANDS name."""
    create(with_accounts, "demo")
    return with_accounts


@settings(max_examples=40)
@given(st.sampled_from(COMMANDS), ids)
@example(("posts", "cancel"), "99999999999999999999")
@example(("posts", "list", "--limit"), "99999999999999999999")
@example(("alerts", "list", "--limit"), "99999999999999999999")
@example(("deliveries", "list", "--post"), "99999999999999999999")
@example(("posts", "add", "--to", "x", "--in", "1h", "--"), "\u200b\u200b")
@example(("posts", "add", "--to", "x", "--in", "1h", "--"), "Demo \x07")
@example(("posts", "add", "Demo", "--tz"), "A" * 5000)
@example(("posts", "cancel"), "\udcff")
@example(("deliveries", "list", "--post"), "\ud800")
@example(("pledges", "edit", "demo", "--goal"), "99999999999999999999")
@example(("engagement", "plan", "demo", "--sample"), "99999999999999999999")
@example((*INVITE, "--expires"), "99999999999999999999h")
def test_any_argument_is_answered_or_refused_in_one_line(
    with_a_campaign: Cli, command: tuple[str, ...], argument: str
) -> None:
    result = with_a_campaign(*command, argument)  # the runner re-raises anything uncaught
    assert result.exit_code in (0, 1, 2), result.output
    # The last resort would turn a bug into one line too: it must not have been needed.
    assert "unexpected error" not in result.output
    if result.exit_code:
        assert "Traceback" not in result.output and "Error" in result.output


@pytest.mark.parametrize(
    ("command", "named"),
    [
        (("posts", "cancel"), "'REF'"),
        (("posts", "show"), "'REF'"),
        (("posts", "edit"), "'REF'"),
        (("deliveries", "list", "--post"), "'--post'"),
        (("pledges", "show"), "'SLUG'"),
        (("report",), "'CAMPAIGN'"),
        (("release", "check"), "'CAMPAIGN'"),
        (("posts", "list", "--campaign"), "'--campaign'"),
        (("posts", "add", "--to", "x", "--in", "1h", "--"), "'TEXT...'"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_naming_what_it_was_given_for(
    cli: Cli, command: tuple[str, ...], named: str
) -> None:
    result = cli(*command, "demo\udcff")  # the byte 0xFF as Python decodes it from argv
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {named}: 'demo\\xff' is not valid text" in result.output
    assert "the byte 0xFF at character 5 is not UTF-8" in result.output
    assert "unexpected error" not in result.output


def test_a_nul_in_an_argument_is_refused_naming_what_it_was_given_for(cli: Cli) -> None:
    # A shell cannot pass one, a program calling Clarion can; PostgreSQL refuses it.
    result = cli("posts", "show", "demo\x00")
    assert result.exit_code == 2, result.output
    assert "Invalid value for 'REF': it contains a NUL character" in result.output


def test_a_settings_file_named_in_bytes_that_are_not_utf8_is_refused_by_its_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for how in (["--config", "clarion\udcff.env", "status"], ["--config=\ud800", "status"]):
        result = CliRunner().invoke(main, how, catch_exceptions=False)
        assert result.exit_code == 2 and "Invalid value for '--config'" in result.output
    from_environment = CliRunner(env={"CLARION_CONFIG": "clarion\udcff.env"}).invoke(
        main, ["status"], catch_exceptions=False
    )
    assert from_environment.exit_code == 2
    assert "(from the environment variable CLARION_CONFIG)" in from_environment.output
    assert "'clarion\\xff.env' is not valid text" in from_environment.output


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ((*PLEDGE, "--goal"), "99999999999999999999"),
        ((*PLEDGE, "--goal"), "2147483648"),  # past PostgreSQL's INTEGER
        (("pledges", "edit", "demo", "--goal"), "99999999999999999999"),
        (("engagement", "plan", "demo", "--sample"), "99999999999999999999"),
        (("engagement", "plan", "demo", "--cap"), "nan"),
        (("engagement", "plan", "demo", "--cap"), "inf"),
        (("engagement", "plan", "demo", "--cap"), "1e400"),
        (("release", "status", "demo", "--every"), "nan"),
        ((*INVITE, "--expires"), "99999999999999999999h"),
        ((*INVITE, "--expires"), "9" * 5000 + "h"),
    ],
)
def test_a_number_beyond_what_its_option_takes_is_refused_naming_the_option(
    cli: Cli, command: tuple[str, ...], value: str
) -> None:
    result = cli(*command, value)
    assert result.exit_code == 2, result.output
    [refusal] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert refusal.startswith("Error: Invalid value for ") and command[-1] in refusal
    assert "unexpected error" not in result.output


@pytest.mark.parametrize(
    "option",
    [
        "--port",
        "--seed",
        "--x-posts-per-user",
        "--x-posts-per-app",
        "--x-monthly-post-cap",
        "--latency-ms",
        "--timeout-hold-s",
        "--duplicate-window-s",
        "--time-acceleration",
        "--x-error-rate",
    ],
)
@pytest.mark.parametrize("value", ["99999999999999999999", "nan", "-inf", "1e400"])
def test_a_sandbox_option_takes_only_a_finite_number_in_its_range(option: str, value: str) -> None:
    # make_context parses and checks the options without starting a server.
    with pytest.raises(click.BadParameter) as refused:
        sandbox_command.make_context("sandbox", [option, value])
    assert option in refused.value.format_message() or refused.value.param_hint


def test_a_token_typed_at_a_prompt_that_is_not_utf8_is_refused_and_never_shown(cli: Cli) -> None:
    command = ("accounts", "connect", "facebook", "--page-id", "1")
    # A UTF-8 locale's stdin refuses the byte 0xFF (as the runner's does); the C locale's
    # keeps it as a lone surrogate. Either way the answer is refused by its option.
    result = cli(*command, input=b"secret-part\xff\n")
    in_c_locale = subprocess.run(
        [sys.executable, "main.py", "--config", str(cli.config), *command],
        input=b"secret-part\xff\n",
        cwd=ROOT,
        env={**clean_env(), "PYTHONIOENCODING": "utf-8:surrogateescape"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    for code, output in (
        (result.exit_code, result.output),
        (in_c_locale.returncode, (in_c_locale.stdout + in_c_locale.stderr).decode()),
    ):
        assert code == 2, output
        assert "Invalid value for '--token' (as typed at the prompt): it is not valid" in output
        assert "secret-part" not in output and "unexpected error" not in output


def test_a_post_id_no_row_can_have_is_no_such_post(cli: Cli) -> None:
    result = cli("posts", "cancel", "99999999999999999999")
    assert result.exit_code == 1
    assert "no post '99999999999999999999'" in result.output


@pytest.mark.parametrize("text", ["\u200b\u2060", "Demo \x07 tonight"])
def test_a_text_that_would_post_nothing_visible_or_a_control_character_is_refused(
    with_accounts: Cli, text: str
) -> None:
    result = with_accounts("posts", "add", "--to", "x", "--in", "1h", "--", text)
    assert result.exit_code != 0
    assert "is empty" in result.output or "control character" in result.output


def test_an_unexpected_error_is_one_line_naming_the_file_with_its_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_DIR_VARIABLE, str(tmp_path / "crashes"))

    @click.group(cls=GuardedGroup)
    def group() -> None:
        pass

    @group.command()
    def broken() -> None:
        raise KeyError("line one\nline two")

    result = CliRunner().invoke(group, ["broken"], catch_exceptions=False)
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith("Error: unexpected error (KeyError: ") and "line two" in line
    [trace] = (tmp_path / "crashes").glob("crash-*.log")
    assert str(trace) in line
    assert "Traceback" in trace.read_text() and "raise KeyError" in trace.read_text()
    assert trace.stat().st_mode & 0o077 == 0


def test_two_unexpected_errors_in_the_same_second_each_keep_their_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_DIR_VARIABLE, str(tmp_path))
    first, second = one_line(KeyError("first")), one_line(KeyError("second"))
    traces = sorted(tmp_path.glob("crash-*.log"), key=lambda trace: trace.read_text())
    assert [trace.read_text().splitlines()[-1] for trace in traces] == [
        "KeyError: 'first'",
        "KeyError: 'second'",
    ]
    assert str(traces[0]) in first and str(traces[1]) in second


def test_click_s_own_endings_pass_through_the_last_resort(tmp_path: Path) -> None:
    @click.group(cls=GuardedGroup)
    def group() -> None:
        pass

    @group.command()
    def refuses() -> None:
        raise click.ClickException("a sentence for the volunteer")

    result = CliRunner().invoke(group, ["refuses"], catch_exceptions=False)
    assert result.output == "Error: a sentence for the volunteer\n"
