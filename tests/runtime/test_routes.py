"""Where each platform's requests go: the real origins (both of X's hosts alike), a
sandbox, or a door of one."""

from __future__ import annotations

from bot.platforms.http import ANY_HOST, GRAPH_ORIGIN, WWW_FACEBOOK_ORIGIN, X_API_ORIGIN
from bot.runtime.wiring import X_ORIGIN, routes_for
from bot.settings import load_settings


def settings(**environ: str):
    return load_settings(None, environ=environ)


def test_x_is_reached_on_its_current_host() -> None:
    assert X_ORIGIN == "https://api.x.com"


def test_a_sandbox_receives_both_of_xs_hosts() -> None:
    routes = routes_for(settings(SANDBOX_URL="http://127.0.0.1:8700"))
    assert routes["https://api.x.com"] == "http://127.0.0.1:8700"
    assert routes["https://api.twitter.com"] == "http://127.0.0.1:8700"


def test_x_api_base_url_receives_both_of_xs_hosts() -> None:
    routes = routes_for(settings(SANDBOX="off", X_API_BASE_URL="http://127.0.0.1:9100"))
    assert routes["https://api.x.com"] == "http://127.0.0.1:9100"
    assert routes["https://api.twitter.com"] == "http://127.0.0.1:9100"
    assert "https://graph.facebook.com" not in routes


def test_a_sandbox_url_sends_every_host_to_the_sandbox():
    routes = routes_for(settings(SANDBOX_URL="http://127.0.0.1:8700"))
    assert set(routes.values()) == {"http://127.0.0.1:8700"}
    assert {X_API_ORIGIN, GRAPH_ORIGIN, WWW_FACEBOOK_ORIGIN, ANY_HOST} <= set(routes)


def test_a_platforms_own_base_url_wins_over_the_sandbox_url():
    # e.g. X through the sandbox's door for X, which an outage shuts
    routes = routes_for(
        settings(SANDBOX_URL="http://127.0.0.1:8700", X_API_BASE_URL="http://127.0.0.1:9001")
    )
    assert routes[X_API_ORIGIN] == "http://127.0.0.1:9001"
    assert routes[GRAPH_ORIGIN] == routes[ANY_HOST] == "http://127.0.0.1:8700"


def test_without_a_sandbox_only_the_base_urls_given_are_routed():
    assert routes_for(settings(SANDBOX="off", FACEBOOK_GRAPH_BASE_URL="http://g:1")) == {
        GRAPH_ORIGIN: "http://g:1"
    }
