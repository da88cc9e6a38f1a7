"""The admin API answers the sandbox's own clients only: JSON, from its own origin, with
its token when it has one. A page on another site cannot drive it through a browser."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bot.runtime.wiring import sandbox_acceleration
from bot.sandbox.options import ADMIN_TOKEN_HEADER, SandboxOptions
from bot.sandbox.testing import SandboxAdmin, SandboxHandle, running_sandbox

# What a <form enctype="text/plain"> or fetch(…, {mode: "no-cors"}) on another site sends.
CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}


def _handles(sandbox: SandboxHandle) -> list[str]:
    return [u["username"] for u in sandbox.admin.x_users()]


def test_a_cross_site_text_plain_post_is_refused_and_changes_nothing(
    sandbox: SandboxHandle, alice: dict[str, Any]
) -> None:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/reset",
        data='{"x": 1}',
        headers={**CROSS_SITE, "Content-Type": "text/plain"},
        timeout=5,
    )
    assert answer.status_code == 403
    assert "own" in answer.json()["error"]
    assert _handles(sandbox) == ["alice"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_post_that_is_not_json_is_refused_even_without_browser_headers(
    sandbox: SandboxHandle, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    answer = requests.post(
        f"{sandbox.url}/_sandbox/x/users",
        data=b'{"handle": "mallory"}' if content_type else None,
        headers=headers,
        timeout=5,
    )
    assert answer.status_code == 415
    assert "application/json" in answer.json()["error"]
    assert _handles(sandbox) == []


def test_json_from_another_origin_is_refused(sandbox: SandboxHandle) -> None:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/x/users",
        json={"handle": "mallory"},
        headers={"Origin": "http://evil.example"},
        timeout=5,
    )
    assert answer.status_code == 403
    assert _handles(sandbox) == []


def test_a_cross_site_read_of_the_app_secrets_is_refused(sandbox: SandboxHandle) -> None:
    answer = requests.get(f"{sandbox.url}/_sandbox/app", headers=CROSS_SITE, timeout=5)
    assert answer.status_code == 403
    assert "consumer_secret" not in answer.text


def test_json_from_its_own_origin_is_accepted(sandbox: SandboxHandle) -> None:
    answer = requests.post(
        f"{sandbox.url}/_sandbox/x/users",
        json={"handle": "carol"},
        headers={"Origin": sandbox.url, "Sec-Fetch-Site": "same-origin"},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text
    assert _handles(sandbox) == ["carol"]


def test_the_timeline_page_opens_from_a_link_on_another_site(sandbox: SandboxHandle) -> None:
    answer = requests.get(f"{sandbox.url}/_sandbox/", headers=CROSS_SITE, timeout=5)
    assert answer.status_code == 200 and "<html" in answer.text.lower()


def test_with_a_token_every_admin_call_needs_it_and_the_sandboxs_own_client_sends_it() -> None:
    with running_sandbox(SandboxOptions(admin_token="s3cret-admin")) as sandbox:
        bare = requests.get(f"{sandbox.url}/_sandbox/app", timeout=5)
        assert bare.status_code == 401
        assert ADMIN_TOKEN_HEADER in bare.json()["error"]
        wrong = SandboxAdmin(sandbox.url, token="guess")
        with pytest.raises(requests.HTTPError):
            wrong.create_x_user("mallory")
        sandbox.admin.create_x_user("dana")  # the handle's client carries the token
        sandbox.admin.reset()
        assert sandbox.admin.x_users() == []


def test_clarion_reads_a_token_guarded_sandboxs_clock_with_its_token() -> None:
    options = SandboxOptions(admin_token="s3cret-admin", time_acceleration=500.0)
    with running_sandbox(options) as sandbox:
        assert sandbox_acceleration(sandbox.url, default=1.0) == 1.0  # refused: the default
        assert sandbox_acceleration(sandbox.url, default=1.0, token="s3cret-admin") == 500.0
