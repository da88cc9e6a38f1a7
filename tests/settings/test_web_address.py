"""WEB_BASE_URL follows WEB_HOST and WEB_PORT unless set, and `config check` says when an
address on this machine names another port than the pages listen on."""

from __future__ import annotations

import pytest

from bot.settings import base_url_mismatch, load_settings


def test_the_public_address_follows_the_port_when_only_the_port_is_changed():
    settings = load_settings(None, environ={"WEB_PORT": "9123"})
    assert settings.web_base_url == "http://127.0.0.1:9123"
    assert base_url_mismatch(settings) is None


def test_the_public_address_follows_the_host_and_names_loopback_for_every_interface():
    assert load_settings(None, environ={"WEB_HOST": "10.0.0.5"}).web_base_url == (
        "http://10.0.0.5:8080"
    )
    assert load_settings(None, environ={"WEB_HOST": "0.0.0.0"}).web_base_url == (  # noqa: S104
        "http://127.0.0.1:8080"
    )


def test_an_address_set_explicitly_is_kept_as_written():
    settings = load_settings(
        None, environ={"WEB_PORT": "9123", "WEB_BASE_URL": "https://campaigns.example.org/"}
    )
    assert settings.web_base_url == "https://campaigns.example.org"
    assert base_url_mismatch(settings) is None  # a proxy in front: not ours to judge


@pytest.mark.parametrize(
    "address", ["http://127.0.0.1:8080", "http://localhost:8080/", "http://127.0.0.1"]
)
def test_an_address_on_this_machine_naming_another_port_is_a_warning(address):
    settings = load_settings(None, environ={"WEB_PORT": "9123", "WEB_BASE_URL": address})
    warning = base_url_mismatch(settings)
    assert warning is not None
    assert "WEB_PORT=9123" in warning and "Empty WEB_BASE_URL" in warning


def test_config_check_warns_when_the_address_and_the_port_disagree(cli):
    cli.config.write_text(
        cli.config.read_text() + "WEB_PORT=9123\nWEB_BASE_URL=http://127.0.0.1:8080\n"
    )
    result = cli("config", "check")
    assert result.exit_code == 0, result.output
    assert "warning: WEB_BASE_URL=http://127.0.0.1:8080 names port 8080" in result.output
    assert cli.json("config", "check")["warnings"] == [
        base_url_mismatch(load_settings(cli.config, environ={}))
    ]


def test_config_check_is_quiet_when_only_the_port_is_changed(cli):
    cli.config.write_text(cli.config.read_text() + "WEB_PORT=9123\n")
    result = cli("config", "check")
    assert result.exit_code == 0 and "warning" not in result.output
    assert "http://127.0.0.1:9123 (follows WEB_HOST, WEB_PORT)" in result.output
