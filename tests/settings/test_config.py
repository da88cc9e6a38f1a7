"""Configuration: every setting documented, bad values named, secrets never shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import SETTINGS, ConfigError, Secret, describe, load_settings

EXAMPLE = Path(__file__).parents[2] / "config.env.example"


def test_every_setting_is_in_the_example_file_with_a_comment_and_its_default():
    lines = EXAMPLE.read_text().splitlines()
    for setting in SETTINGS:
        line = f"{setting.name}={setting.default}"
        assert line in lines, f"{setting.name} missing from config.env.example"
        assert lines[lines.index(line) - 1].startswith("#"), f"{setting.name} has no comment"


def test_the_example_file_names_no_setting_the_code_does_not_know():
    names = {s.name for s in SETTINGS}
    assigned = re.findall(r"^([A-Z_]+)=", EXAMPLE.read_text(), flags=re.M)
    assert set(assigned) <= names


def test_the_defaults_load_and_mean_the_sandbox():
    settings = load_settings(None, environ={})
    assert settings.uses_sandbox and settings.facebook_graph_version == "v25.0"


def test_a_bad_value_names_the_variable_and_what_is_expected():
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"MAX_ATTEMPTS": "lots", "TIMEZONE": "Mars/Olympus"})
    message = str(caught.value)
    assert (
        "MAX_ATTEMPTS='lots' (from environment): expected a whole number from 1 to 1,000,000"
        in message
    )
    assert "TIMEZONE='Mars/Olympus'" in message and "IANA" in message


def test_a_bad_secret_is_reported_without_its_value(tmp_path):
    env = tmp_path / "config.env"
    env.write_text("X_API_BASE_URL=ftp://nope\n")
    with pytest.raises(ConfigError, match=r"X_API_BASE_URL='ftp://nope' \(from .*config.env\)"):
        load_settings(env, environ={})


def test_the_environment_wins_over_the_file(tmp_path):
    env = tmp_path / "config.env"
    env.write_text("DELIVERY_CONCURRENCY=4\nTIMEZONE=Europe/Paris\n")
    settings = load_settings(env, environ={"DELIVERY_CONCURRENCY": "9"})
    assert (settings.delivery_concurrency, settings.timezone) == (9, "Europe/Paris")


def test_graph_versions_are_written_the_way_graph_expects():
    assert (
        load_settings(None, environ={"FACEBOOK_GRAPH_VERSION": "24"}).facebook_graph_version
        == "v24.0"
    )
    assert (
        load_settings(None, environ={"FACEBOOK_GRAPH_VERSION": "25.0"}).facebook_graph_version
        == "v25.0"
    )
    with pytest.raises(ConfigError, match="FACEBOOK_GRAPH_VERSION"):
        load_settings(None, environ={"FACEBOOK_GRAPH_VERSION": "latest"})


def test_secrets_never_show_in_repr_str_or_the_settings_table():
    token = "AAAAsupersecretpagetoken1234"
    settings = load_settings(
        None, environ={"FACEBOOK_PAGE_TOKEN": token, "FACEBOOK_PAGE_ID": "123"}
    )
    assert token not in repr(settings) and token not in str(settings.facebook_page_token)
    assert token not in repr(describe(settings))
    assert settings.facebook_page_token.reveal() == token
    assert Secret(token).masked().endswith("34") and token not in Secret(token).masked()


def test_real_credentials_switch_off_the_sandbox_unless_forced():
    real = {"X_CONSUMER_KEY": "k", "X_CONSUMER_SECRET": "s"}
    assert not load_settings(None, environ=real).uses_sandbox
    assert load_settings(None, environ={**real, "SANDBOX": "on"}).uses_sandbox
    assert not load_settings(None, environ={"SANDBOX": "off"}).uses_sandbox


def test_a_database_url_must_be_sqlite_or_postgresql_and_its_password_is_never_shown():
    with pytest.raises(ConfigError, match="DATABASE_URL='mysql://bob:\\*\\*\\*@db/x'"):
        load_settings(None, environ={"DATABASE_URL": "mysql://bob:hunter2@db/x"})
    hosted = load_settings(None, environ={"DATABASE_URL": "postgres://u:p@db.example/clarion"})
    assert hosted.database_url == "postgresql+psycopg://u:p@db.example/clarion"


def test_the_sandbox_clock_rate_is_a_number_of_at_least_one_and_only_counts_on_a_sandbox():
    assert load_settings(None, environ={}).clock_acceleration == 1000  # make run's week
    assert load_settings(None, environ={"SANDBOX_TIME_ACCELERATION": "1"}).clock_acceleration == 1
    real = {"X_CONSUMER_KEY": "k", "X_CONSUMER_SECRET": "s", "SANDBOX_TIME_ACCELERATION": "50"}
    assert load_settings(None, environ=real).clock_acceleration == 1
    for bad in ("0.5", "fast", "-3"):
        with pytest.raises(ConfigError, match="SANDBOX_TIME_ACCELERATION"):
            load_settings(None, environ={"SANDBOX_TIME_ACCELERATION": bad})
