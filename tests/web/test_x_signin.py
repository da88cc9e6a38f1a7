"""XWebSignIn: X's three-legged OAuth 1.0a, split across two requests, on the sandbox."""

from __future__ import annotations

import pytest

from bot.platforms.base import AuthError, PermanentError
from bot.platforms.x.signin import XWebSignIn
from bot.sandbox.testing import SandboxHandle
from tests.support.web import consent_x


def _signin(sandbox: SandboxHandle, secret: str | None = None) -> XWebSignIn:
    app = sandbox.admin.app()
    return XWebSignIn(
        app["consumer_key"], secret or app["consumer_secret"], api_base_url=sandbox.url
    )


def test_it_signs_a_person_in_across_two_requests(sandbox: SandboxHandle) -> None:
    sandbox.admin.create_x_user("two_step", followers=77)
    url, token, secret = _signin(sandbox).start("http://127.0.0.1:9/cb")
    assert url.startswith(f"{sandbox.url}/oauth/authorize?oauth_token={token}")
    assert secret not in url
    back = consent_x(url, "two_step")
    assert back.startswith("http://127.0.0.1:9/cb?")
    verifier = back.split("oauth_verifier=")[1]
    access, access_secret, who = _signin(sandbox).finish(token, secret, verifier)
    assert access and access_secret
    assert (who.handle, who.followers) == ("two_step", 77)


def test_a_wrong_verifier_is_an_auth_error(sandbox: SandboxHandle) -> None:
    url, token, secret = _signin(sandbox).start("http://127.0.0.1:9/cb")
    consent_x(url, "wrong_verifier")
    with pytest.raises(AuthError):
        _signin(sandbox).finish(token, secret, "0000000")


def test_wrong_app_keys_are_a_permanent_error(sandbox: SandboxHandle) -> None:
    with pytest.raises(PermanentError) as caught:
        _signin(sandbox, secret="not-the-secret").start("http://127.0.0.1:9/cb")
    assert "X_CONSUMER_KEY" in caught.value.message
