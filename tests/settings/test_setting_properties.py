"""Every setting takes any text without an exception: a good value is read, a bad one is
refused with the variable's name. Property-based (Hypothesis) with pinned examples, among
them bytes that are not UTF-8 (which Python carries as lone surrogates) and numbers too
large or not finite."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import example, given
from hypothesis import strategies as st

from bot.settings import (
    SETTINGS,
    ConfigError,
    Secret,
    Settings,
    folder_problems,
    load_settings,
)
from tests.support.cli import Cli

NAMES = [setting.name for setting in SETTINGS]
TRICKY = ["nan", "inf", "-inf", "1e309", "70000", "0", "-1", "9" * 5000, "A" * 5000, "", " "]
TRICKY += ["\udcff", "sqlite:////tmp/\udcff.db", "\ud800", "99999999999999999999", "-1e400"]
# Environment variables are bytes; those that are not UTF-8 reach Python as U+DC80 to
# U+DCFF (PEP 383). Hypothesis's text() leaves out surrogates unless asked for them.
any_character = (
    st.characters()
    | st.characters(categories=["Cs"])
    | st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF)
)
values = (
    st.sampled_from(TRICKY)
    | st.text(max_size=60)
    | st.text(any_character, max_size=60)
    | st.integers(min_value=-(10**30), max_value=10**30).map(str)
    | st.floats(allow_nan=True, allow_infinity=True).map(repr)
)


@given(st.sampled_from(NAMES), values)
@example("WEB_PORT", "70000")
@example("HTTP_TIMEOUT_SECONDS", "nan")
@example("TIMEZONE", "A" * 5000)
@example("ENGAGEMENT_OFFSETS", "99999999999999999999d")
@example("DATABASE_URL", "sqlite:////tmp/\udcff.db")
@example("SCHEDULES_DIR", "schedules\udcff")
def test_any_value_of_any_setting_is_read_or_refused_by_name(name: str, value: str) -> None:
    try:
        settings = load_settings(None, environ={name: value})
    except ConfigError as refusal:
        assert name in str(refusal)
        return
    for field_value in vars(settings).values():
        if isinstance(field_value, float):
            assert math.isfinite(field_value)
        if isinstance(field_value, str):
            field_value.encode("utf-8")  # what the database, a log or a page will do
        if isinstance(field_value, Secret):
            field_value.reveal().encode("utf-8")
    assert 1 <= settings.web_port <= 65535 and 1 <= settings.smtp_port <= 65535


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_PORT", "70000"),
        ("SANDBOX_PORT", "0"),
        ("SMTP_PORT", "65536"),
        ("HTTP_TIMEOUT_SECONDS", "nan"),
        ("POLL_INTERVAL_SECONDS", "inf"),
        ("CONSOLE_SESSION_HOURS", "99999999999"),
        ("TIMEZONE", "A" * 5000),
        ("ENGAGEMENT_OFFSETS", "1h,999999999d"),
        ("WEB_HOST", "not a host"),
        ("WEB_HOST", "-bad-.example"),
        ("WEB_HOST", "999.1.1.1"),
        ("METRICS_BIND", "exa mple:9464"),
        ("SMTP_HOST", "mail server"),
        ("MAIL_FROM", "a@union.example, b@stranger.example"),
        ("MAIL_FROM", "Union <clarion@union.example>\r\nBcc: x@stranger.example"),
        ("MAIL_FROM", "clarion"),
    ],
)
def test_a_value_the_daemon_could_not_use_is_refused_at_load(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(None, environ={name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEB_HOST", "0.0.0.0"),  # noqa: S104 (a value to parse, not a bind)
        ("WEB_HOST", "::"),
        ("WEB_HOST", "clarion.union.example"),
        ("WEB_HOST", ""),  # every IPv4 interface, as before
        ("SMTP_HOST", "mail_relay"),  # a Compose service or /etc/hosts alias
        ("SMTP_HOST", "mail.bücher.de"),
        ("METRICS_BIND", "[::1]:9464"),
        ("SMTP_HOST", ""),
        ("MAIL_FROM", "clarion@localhost"),
        ("MAIL_FROM", "Union comms <clarion@union.example>"),
        ("MAIL_FROM", '"Unite, Region 5" <clarion@union.example>'),
    ],
)
def test_hosts_and_senders_as_operators_write_them_are_taken(name: str, value: str) -> None:
    settings = load_settings(None, environ={name: value})
    assert getattr(settings, name.lower()) == value


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("DATABASE_URL", "sqlite:////tmp/\udcff.db", "'sqlite:////tmp/\\xff.db'"),
        ("TIMEZONE", "Europe/Z\udcfcrich", "'Europe/Z\\xfcrich'"),
        ("X_CONSUMER_KEY", "key\udcff", "***"),
        ("WEB_BASE_URL", "https://union.example/\ud800", "'https://union.example/\\ud800'"),
    ],
)
def test_a_setting_that_is_not_utf8_is_refused_naming_it_and_the_byte(
    name: str, value: str, shown: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, environ={name: value})
    assert f"{name}={shown} (from environment): is not valid text: " in str(refused.value)
    assert "is not UTF-8; write it again as UTF-8" in str(refused.value)
    assert "key" not in str(refused.value)  # a secret is never shown, even in part


def test_config_check_and_run_refuse_a_setting_that_is_not_utf8(cli: Cli, tmp_path: Path):
    environment = {"DATABASE_URL": f"sqlite:///{tmp_path}/\udcff.db", "TIMEZONE": None}
    hostile = Cli(cli.config, CliRunner(env=environment))
    for command in (("config", "check"), ("run",)):
        result = hostile(*command)
        assert result.exit_code == 1, result.output
        assert "DATABASE_URL=" in result.output and "the byte 0xFF" in result.output
        assert "unexpected error" not in result.output


def test_a_settings_file_that_is_not_utf8_is_refused_naming_its_line(tmp_path: Path) -> None:
    config = tmp_path / "config.env"
    config.write_bytes(b"# Clarion\nSANDBOX=on\nTIMEZONE=Europe/Z\xfcrich\n")  # Latin-1
    with pytest.raises(ConfigError, match=r"config.env line 3: the byte 0xFC is not UTF-8"):
        load_settings(config, environ={})


def test_a_file_setting_in_a_folder_that_does_not_exist_is_a_problem(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    settings: Settings = load_settings(
        None,
        environ={
            "DATABASE_URL": f"sqlite:///{missing}/clarion.db",
            "SANDBOX_STATE_FILE": str(missing / "sandbox.db"),
            "SCHEDULES_DIR": str(tmp_path / "a-file"),
        },
    )
    (tmp_path / "a-file").write_text("")
    problems = folder_problems(settings)
    assert [p.split(":")[0].split("=")[0] for p in problems] == [
        "SCHEDULES_DIR",
        "SANDBOX_STATE_FILE",
        "DATABASE_URL",
    ]


def test_config_check_run_and_web_refuse_a_folder_that_does_not_exist(cli, tmp_path: Path) -> None:
    cli.config.write_text(
        cli.config.read_text() + f"SANDBOX_STATE_FILE={tmp_path / 'nowhere' / 's.db'}\n"
    )
    checked = cli("config", "check")
    assert checked.exit_code == 1
    assert "problem: SANDBOX_STATE_FILE: the folder" in checked.output
    for command in ("run", "web"):
        ran = cli(command)
        assert ran.exit_code == 1 and "SANDBOX_STATE_FILE: the folder" in ran.output


def test_config_check_refuses_a_port_out_of_range_and_a_timeout_that_is_not_a_number(cli):
    cli.config.write_text(cli.config.read_text() + "WEB_PORT=70000\nHTTP_TIMEOUT_SECONDS=nan\n")
    result = cli("config", "check")
    assert result.exit_code == 1
    assert "WEB_PORT='70000'" in result.output and "HTTP_TIMEOUT_SECONDS='nan'" in result.output
