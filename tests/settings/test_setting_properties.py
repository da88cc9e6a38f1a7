"""Every setting takes any text without an exception: a good value is read, a bad one is
refused with the variable's name. Property-based (Hypothesis) with pinned examples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot.settings import SETTINGS, ConfigError, Settings, folder_problems, load_settings

NAMES = [setting.name for setting in SETTINGS]
TRICKY = ["nan", "inf", "-inf", "1e309", "70000", "0", "-1", "9" * 5000, "A" * 5000, "", " "]
values = st.sampled_from(TRICKY) | st.text(max_size=60)


@given(st.sampled_from(NAMES), values)
@example("WEB_PORT", "70000")
@example("HTTP_TIMEOUT_SECONDS", "nan")
@example("TIMEZONE", "A" * 5000)
@example("ENGAGEMENT_OFFSETS", "99999999999999999999d")
def test_any_value_of_any_setting_is_read_or_refused_by_name(name: str, value: str) -> None:
    try:
        settings = load_settings(None, environ={name: value})
    except ConfigError as refusal:
        assert name in str(refusal)
        return
    for field_value in vars(settings).values():
        if isinstance(field_value, float):
            assert math.isfinite(field_value)
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
    ],
)
def test_a_value_the_daemon_could_not_use_is_refused_at_load(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(None, environ={name: value})


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
