"""Where each platform's requests go: both of X's hosts, always to the same place."""

from __future__ import annotations

from bot.runtime.wiring import X_ORIGIN, routes_for
from bot.settings import load_settings


def test_x_is_reached_on_its_current_host() -> None:
    assert X_ORIGIN == "https://api.x.com"


def test_a_sandbox_receives_both_of_xs_hosts() -> None:
    settings = load_settings(None, environ={"SANDBOX_URL": "http://127.0.0.1:8700"})
    routes = routes_for(settings)
    assert routes["https://api.x.com"] == "http://127.0.0.1:8700"
    assert routes["https://api.twitter.com"] == "http://127.0.0.1:8700"


def test_x_api_base_url_receives_both_of_xs_hosts() -> None:
    settings = load_settings(None, environ={"X_API_BASE_URL": "http://127.0.0.1:9100"})
    routes = routes_for(settings)
    assert routes["https://api.x.com"] == "http://127.0.0.1:9100"
    assert routes["https://api.twitter.com"] == "http://127.0.0.1:9100"
    assert "https://graph.facebook.com" not in routes
