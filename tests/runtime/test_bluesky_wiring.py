"""The runtime's Bluesky adapter: routed to SANDBOX_URL like every other host, and a
session it refreshes is sealed back into the account's row."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.platforms.bluesky.credentials import pack, unpack
from bot.runtime.wiring import Runtime
from bot.sandbox.testing import SandboxHandle, running_sandbox
from bot.settings import load_settings
from bot.storage.models import Account
from bot.storage.vault import generate_key


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def runtime(empty_database: str, sandbox: SandboxHandle) -> Iterator[Runtime]:
    environ = {
        "DATABASE_URL": empty_database,
        "SANDBOX_URL": sandbox.url,
        "TOKEN_ENCRYPTION_KEYS": generate_key(),
        "WEB_SECRET_KEY": "web-secret-key-never-shown-0123456789",
    }
    runtime = Runtime(load_settings(None, environ=environ))
    runtime.migrate()
    yield runtime
    runtime.close()


def test_a_refreshed_session_is_sealed_back_over_the_stored_one(
    runtime: Runtime, sandbox: SandboxHandle
) -> None:
    sandbox.admin.bluesky_limits(access_lifetime_s=30)  # inside the refresh margin
    made = sandbox.admin.create_bluesky_account("hq-union", followers=10)
    stored = pack(sandbox.admin.bluesky_session(made["did"]))
    with runtime.sessions() as session:
        session.add(
            Account(
                platform="bluesky",
                handle=made["handle"],
                platform_user_id=made["did"],
                credentials=runtime.vault.seal(stored),
            )
        )
        session.commit()

    runtime.platform("bluesky").publish(stored, "Routed to the sandbox")

    assert [p["record"]["text"] for p in sandbox.admin.bluesky_posts(made["did"])] == [
        "Routed to the sandbox"
    ]
    with runtime.sessions() as session:
        sealed = session.scalars(select(Account.credentials)).one()
    now_stored = unpack(runtime.vault.open(sealed))
    assert now_stored["refresh_token"] != unpack(stored)["refresh_token"]
    assert now_stored["did"] == made["did"]
