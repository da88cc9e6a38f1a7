"""Changing WEB_PORT alone keeps pledging working: X sends supporters back to the port
the pages listen on."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle
from bot.settings import load_settings
from bot.storage.vault import generate_key
from bot.web.app import create_web_app
from tests.support.web import add_campaign, consent_x, start_x


def test_x_sends_a_supporter_back_to_the_changed_port(engine: Engine, sandbox: SandboxHandle):
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": str(engine.url),
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
            "WEB_PORT": "9123",
        },
    )
    runtime = Runtime(settings, engine).with_sandbox(sandbox.url, sandbox.admin.app())
    add_campaign(runtime)
    app = create_web_app(runtime)
    client = TestClient(app, base_url="http://127.0.0.1:9123", follow_redirects=False)
    back = consent_x(start_x(client), "supporter_one")
    assert back.startswith("http://127.0.0.1:9123/c/fujitsu/x/callback?"), back
