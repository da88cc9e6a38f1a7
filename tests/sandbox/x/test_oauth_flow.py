"""X's 3-legged OAuth 1.0a flow, driven by tweepy's OAuth1UserHandler and a 'browser'."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import requests_oauthlib
import tweepy
import tweepy.auth

from bot.sandbox.options import SandboxOptions
from bot.sandbox.testing import SandboxHandle
from tests.support.routing import route_session, x_client

CALLBACK = "https://clarion.example/x/callback?campaign=7"


@pytest.fixture
def routed_oauth(sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """OAuth1UserHandler makes a new OAuth1Session per step; route each one (one seam)."""

    class RoutedSession(requests_oauthlib.OAuth1Session):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            route_session(self, sandbox.url)

    monkeypatch.setattr(tweepy.auth, "OAuth1Session", RoutedSession)


def handler(callback: str) -> tweepy.OAuth1UserHandler:
    options = SandboxOptions()
    return tweepy.OAuth1UserHandler(
        options.consumer_key, options.consumer_secret, callback=callback
    )


def browser(sandbox: SandboxHandle) -> requests.Session:
    return route_session(requests.Session(), sandbox.url)


def consent(sandbox: SandboxHandle, authorize_url: str, **form: str) -> requests.Response:
    session = browser(sandbox)
    page = session.get(authorize_url, timeout=5)
    assert page.status_code == 200
    assert "Authorise" in page.text and "Cancel" in page.text
    token = parse_qs(urlsplit(authorize_url).query)["oauth_token"][0]
    return session.post(
        "https://api.twitter.com/oauth/authorize",
        data={"oauth_token": token, **form},
        allow_redirects=False,
        timeout=5,
    )


@pytest.mark.usefixtures("routed_oauth")
def test_a_volunteer_authorises_and_the_app_gets_working_tokens(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    url = auth.get_authorization_url()
    assert url.startswith("https://api.twitter.com/oauth/authorize?oauth_token=")
    answer = consent(sandbox, url, handle="carol", authorise="1")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("https://clarion.example/x/callback?campaign=7&")
    query = parse_qs(urlsplit(location).query)
    assert query["oauth_token"] == [auth.request_token["oauth_token"]]
    key, secret = auth.get_access_token(query["oauth_verifier"][0])
    me = x_client(sandbox.url, {"access_token": key, "access_token_secret": secret}).get_me(
        user_auth=True
    )
    assert me.data.username == "carol"


@pytest.mark.usefixtures("routed_oauth")
def test_access_token_answer_names_the_user(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    answer = consent(sandbox, auth.get_authorization_url(), handle="dana", authorise="1")
    verifier = parse_qs(urlsplit(answer.headers["location"]).query)["oauth_verifier"][0]
    session = requests_oauthlib.OAuth1Session(
        SandboxOptions().consumer_key,
        client_secret=SandboxOptions().consumer_secret,
        resource_owner_key=auth.request_token["oauth_token"],
        resource_owner_secret=auth.request_token["oauth_token_secret"],
        verifier=verifier,
    )
    route_session(session, sandbox.url)
    tokens = session.fetch_access_token("https://api.twitter.com/oauth/access_token")
    assert tokens["screen_name"] == "dana"
    assert tokens["user_id"] == sandbox.admin.x_users()[0]["id"]
    assert tokens["oauth_token"].startswith(tokens["user_id"] + "-")


@pytest.mark.usefixtures("routed_oauth")
def test_an_existing_account_can_consent_again(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    auth = handler(CALLBACK)
    answer = consent(sandbox, auth.get_authorization_url(), existing="alice", authorise="1")
    verifier = parse_qs(urlsplit(answer.headers["location"]).query)["oauth_verifier"][0]
    key, _ = auth.get_access_token(verifier)
    assert key.startswith(alice["id"] + "-")
    assert len(sandbox.admin.x_users()) == 1


@pytest.mark.usefixtures("routed_oauth")
def test_oob_shows_a_pin_that_completes_the_flow(sandbox: SandboxHandle) -> None:
    auth = handler("oob")
    answer = consent(sandbox, auth.get_authorization_url(), handle="erin", authorise="1")
    assert answer.status_code == 200
    match = re.search(r'id="pin">(\d{7})<', answer.text)
    assert match, answer.text
    key, secret = auth.get_access_token(match.group(1))
    me = x_client(sandbox.url, {"access_token": key, "access_token_secret": secret}).get_me(
        user_auth=True
    )
    assert me.data.username == "erin"


@pytest.mark.usefixtures("routed_oauth")
def test_cancel_redirects_with_denied_and_gives_no_token(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    answer = consent(sandbox, auth.get_authorization_url(), handle="frank", cancel="1")
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["denied"] == [auth.request_token["oauth_token"]]
    with pytest.raises(tweepy.TweepyException):
        auth.get_access_token("0000000")
    assert sandbox.admin.x_users() == []


@pytest.mark.usefixtures("routed_oauth")
def test_a_wrong_verifier_is_refused(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    consent(sandbox, auth.get_authorization_url(), handle="gina", authorise="1")
    with pytest.raises(tweepy.TweepyException):
        auth.get_access_token("1234567")


@pytest.mark.usefixtures("routed_oauth")
def test_a_request_token_works_only_once(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    url = auth.get_authorization_url()
    answer = consent(sandbox, url, handle="hal", authorise="1")
    verifier = parse_qs(urlsplit(answer.headers["location"]).query)["oauth_verifier"][0]
    auth.get_access_token(verifier)
    with pytest.raises(tweepy.TweepyException):
        auth.get_access_token(verifier)
    assert browser(sandbox).get(url, timeout=5).status_code == 400


@pytest.mark.usefixtures("routed_oauth")
def test_a_wrong_consumer_secret_cannot_start_the_flow(sandbox: SandboxHandle) -> None:
    auth = tweepy.OAuth1UserHandler(SandboxOptions().consumer_key, "wrong", callback=CALLBACK)
    with pytest.raises(tweepy.TweepyException):
        auth.get_authorization_url()


@pytest.mark.usefixtures("routed_oauth")
def test_the_consent_page_escapes_handles(sandbox: SandboxHandle) -> None:
    auth = handler(CALLBACK)
    answer = consent(sandbox, auth.get_authorization_url(), handle="<b>x</b>", authorise="1")
    assert answer.status_code == 400
    assert "<b>x</b>" not in answer.text
    assert "@&lt;b&gt;x&lt;/b&gt; is not a valid handle" in answer.text
