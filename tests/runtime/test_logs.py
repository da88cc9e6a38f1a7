"""Logs: text by default, one JSON object a line with LOG_FORMAT=json, and no way for
user-given text to forge a line in either."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from bot.runtime.logs import JsonFormatter, LogFormat, TextFormatter, escape_controls
from bot.sandbox.testing import sandbox_process
from bot.settings import ConfigError, load_settings
from tests.support.processes import ROOT, DaemonProcess, cli, write_config

FORGED = "Demo\n2026-12-06 09:00:00 ERROR bot.delivery: all tokens leaked\r\x1b[2J\u2028\x85end"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("bot.delivery.deliverer").makeRecord(
        "bot.delivery.deliverer", logging.INFO, __file__, 1, message, args, None, extra=extra
    )
    return made


def test_log_format_is_text_unless_set_and_a_bad_value_names_the_variable() -> None:
    assert load_settings(None, environ={}).log_format == LogFormat.TEXT
    assert load_settings(None, environ={"LOG_FORMAT": "JSON"}).log_format == LogFormat.JSON
    with pytest.raises(ConfigError, match="LOG_FORMAT='xml'"):
        load_settings(None, environ={"LOG_FORMAT": "xml"})


def test_a_json_line_carries_time_level_logger_message_and_the_ids_the_call_passed() -> None:
    line = JsonFormatter().format(
        record("sent %s to %s", "fujitsu/demo-eve", "x", delivery_id=7, post_id=3, campaign_id=1)
    )
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "bot.delivery.deliverer"
    assert entry["message"] == "sent fujitsu/demo-eve to x"
    assert (entry["delivery_id"], entry["post_id"], entry["campaign_id"]) == (7, 3, 1)
    assert entry["time"].endswith("+00:00")
    assert "delivery_id" not in json.loads(JsonFormatter().format(record("plain")))


def test_user_text_stays_inside_its_one_json_line() -> None:
    line = JsonFormatter().format(record("posted %s", FORGED))
    assert len(line.splitlines()) == 1
    assert json.loads(line)["message"] == f"posted {FORGED}"


def test_a_json_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError(FORGED)
    except ValueError:
        made = record("boom")
        made.exc_info = sys.exc_info()
    line = JsonFormatter().format(made)
    assert len(line.splitlines()) == 1
    assert "ValueError" in json.loads(line)["exception"]


def test_text_lines_escape_newlines_and_control_characters_and_append_the_ids() -> None:
    line = TextFormatter().format(record("posted %s", FORGED, delivery_id=7))
    assert len(line.splitlines()) == 1 and "\x1b" not in line
    assert "Demo\\n2026-12-06 09:00:00 ERROR" in line and "\\r\\x1b[2J\\u2028\\x85end" in line
    assert line.endswith(" [delivery_id=7]")


def test_a_text_traceback_is_indented_so_no_line_passes_for_a_record() -> None:
    try:
        raise ValueError(FORGED)
    except ValueError:
        made = record("boom")
        made.exc_info = sys.exc_info()
    first, *rest = TextFormatter().format(made).split("\n")
    assert first.endswith("boom") and rest
    assert all(line.startswith("    ") for line in rest)
    assert "\x1b" not in "".join(rest)


def test_escape_controls_keeps_ordinary_text_and_tabs() -> None:
    text = "Grève générale 8:30–10am #DefendTheUnion\tend ✊"
    assert escape_controls(text) == text


def test_configure_logging_writes_json_lines_to_stderr() -> None:
    program = (
        "import logging; from bot.runtime.logs import configure_logging\n"
        "configure_logging('info', 'json')\n"
        "logging.getLogger('bot.x').info('hello %s', 'a\\nb', extra={'post_id': 5})\n"
        "logging.getLogger('bot.x').debug('not shown')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    [line] = result.stderr.splitlines()
    entry = json.loads(line)
    assert (entry["message"], entry["post_id"], entry["logger"]) == ("hello a\nb", 5, "bot.x")


@pytest.fixture
def sandbox():
    with sandbox_process() as url:
        yield url


def test_the_daemon_logs_json_lines_with_the_delivery_post_and_campaign_ids_when_asked(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox, log_format="json")
    with DaemonProcess(config) as daemon:
        daemon.wait_ready()
        cli(config, "posts", "add", "--now", "--to", "x", "Demo tomorrow 8:30 at HQ")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and '"message": "sent ' not in daemon.output():
            time.sleep(0.2)
        daemon.terminate()
        output = daemon.output()
    # stdout and stderr together, as journald and `docker compose logs` keep them: every
    # line is a JSON object, the start banner and the stop messages too (jq reads it all).
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert entries, output
    said = [e["message"] for e in entries if e["logger"] == "clarion"]
    assert any(m.startswith("Clarion is running.") for m in said), said
    assert "stopped; anything not yet sent stays queued for the next start" in said
    [sent] = [e for e in entries if e["message"].startswith("sent ")]
    assert isinstance(sent["delivery_id"], int) and sent["level"] == "INFO"
    # The line about one delivery names its post and campaign too, for `jq` to group by.
    assert isinstance(sent["post_id"], int) and isinstance(sent["campaign_id"], int), sent
    # Nothing logged in the text format slipped through (uvicorn's lines included).
    assert not [line for line in output.splitlines() if " INFO " in line or " WARNING " in line]


def test_a_name_with_a_line_break_logged_by_a_cli_command_stays_one_line() -> None:
    """Commands other than `run` and `web` configure no logging: without a handler a
    warning reaches logging's last resort, which writes the message raw."""
    program = (
        "import logging, sys; from bot.cli import main\n"
        "main(['keys', '--help'], standalone_mode=False)\n"
        "logging.getLogger('bot.campaigns').warning('campaign %s refused', sys.argv[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, FORGED],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("campaign Demo\\n2026-12-06 09:00:00 ERROR") and line.endswith("refused")


def test_configure_logging_replaces_its_own_handler_and_leaves_others_alone() -> None:
    program = (
        "import logging; from bot.runtime.logs import configure_logging, escape_by_default\n"
        "escape_by_default(); configure_logging('info'); configure_logging('info', 'json')\n"
        "assert len(logging.getLogger().handlers) == 1, logging.getLogger().handlers\n"
        "logging.getLogger('bot.x').info('one')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert json.loads(line)["message"] == "one"
