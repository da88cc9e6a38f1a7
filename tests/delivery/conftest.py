"""A PostgreSQL database of a test's own, for the scaled-out roles (which refuse SQLite):
on the suite's server with CLARION_TEST_DB=postgres, else on one started here from the
machine's binaries (the tests skip when it has none)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


@pytest.fixture(scope="module")
def postgres_server_url(postgres_server: str | None) -> Iterator[str]:
    if postgres_server:
        yield postgres_server
        return
    from tests.support.postgres import ThrowawayPostgres

    try:
        server = ThrowawayPostgres()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A database of this test's own on the server (the roles' processes share it)."""
    name = f"scale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
