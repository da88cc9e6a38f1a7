"""Part of a platform's real credentials is an error naming what is missing, never a
silent fall-back to the sandbox."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, load_settings


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"X_CONSUMER_KEY": "key"}, "X_CONSUMER_SECRET is missing"),
        ({"X_CONSUMER_SECRET": "secret"}, "X_CONSUMER_KEY is missing"),
        (
            {"X_CONSUMER_KEY": "key", "X_CONSUMER_SECRET": "secret", "X_ACCESS_TOKEN": "t"},
            "X_ACCESS_TOKEN_SECRET is missing",
        ),
        ({"X_ACCESS_TOKEN": "t", "X_ACCESS_TOKEN_SECRET": "s"}, "X_CONSUMER_KEY and "),
        ({"FACEBOOK_PAGE_ID": "123"}, "FACEBOOK_PAGE_TOKEN is missing"),
        ({"FACEBOOK_PAGE_TOKEN": "page-token"}, "FACEBOOK_PAGE_ID is missing"),
        ({"FACEBOOK_APP_ID": "42"}, "FACEBOOK_APP_SECRET is missing"),
        ({"X_BEARER_TOKEN": "bearer"}, "X_BEARER_TOKEN is set"),
    ],
)
def test_part_of_a_platforms_credentials_is_an_error_naming_what_is_missing(given, missing):
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ=given)
    assert missing in str(caught.value)


def test_the_error_never_shows_the_secret_that_was_given():
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"X_CONSUMER_SECRET": "hush-hush-123"})
    assert "hush-hush-123" not in str(caught.value)


def test_whole_sets_mean_the_real_platforms_and_none_means_the_sandbox():
    real = load_settings(None, environ={"FACEBOOK_PAGE_ID": "1", "FACEBOOK_PAGE_TOKEN": "t"})
    assert not real.uses_sandbox
    assert load_settings(None, environ={}).uses_sandbox


def test_a_facebook_app_alone_means_the_real_facebook_whose_login_connects_pages():
    settings = load_settings(None, environ={"FACEBOOK_APP_ID": "42", "FACEBOOK_APP_SECRET": "s"})
    assert not settings.uses_sandbox


def test_asking_for_the_sandbox_outright_lets_a_half_set_stay():
    settings = load_settings(None, environ={"SANDBOX": "on", "X_CONSUMER_KEY": "key"})
    assert settings.uses_sandbox


def test_config_check_and_run_refuse_a_half_set(cli):
    cli.config.write_text(cli.config.read_text() + "X_CONSUMER_KEY=appkey\n")
    for command in (("config", "check"), ("run", "--no-examples")):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert "X_CONSUMER_SECRET is missing: X_CONSUMER_KEY is set" in result.output
        assert "SANDBOX MODE" not in result.output
