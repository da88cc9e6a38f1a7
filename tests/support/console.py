"""The console under test: a runtime on a test database, a clock the test moves, signed-in
clients per role (``ConsoleHarness``), the form's CSRF token, and the users CLI."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.cli import main
from bot.console.roles import Role
from bot.people import users
from bot.runtime.wiring import Runtime
from bot.settings import load_settings
from bot.storage.vault import generate_key

TESTSERVER = "http://testserver"


PASSWORD = "correct horse battery staple"


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def console_runtime(engine: Engine, **environ: str) -> Runtime:
    settings = load_settings(
        None,
        environ={
            "DATABASE_URL": str(engine.url),
            "TOKEN_ENCRYPTION_KEYS": generate_key(),
            "WEB_SECRET_KEY": "test-web-secret-key-0123456789abcdef",
            "WEB_BASE_URL": TESTSERVER,
            **environ,
        },
    )
    return Runtime(settings, engine)


def form_token(client: TestClient, path: str) -> str:
    """The CSRF token of the form on ``path`` (the page is fetched with ``client``)."""
    page = client.get(path)
    assert page.status_code == 200, f"{path}: {page.status_code}"
    match = _CSRF.search(page.text)
    assert match, f"no CSRF field on {path}"
    return match.group(1)


@dataclass
class ConsoleHarness:
    runtime: Runtime
    clock: Clock
    app: Starlette
    made: dict[Role, str] = field(default_factory=dict)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    def add_user(self, email: str, role: Role, *, password: str = PASSWORD, name: str = "") -> str:
        """A person who has accepted their invite; returns the email."""
        with self.sessions() as session:
            link = users.invite(
                session,
                email=email,
                role=role,
                actor="cli:test",
                now=self.clock.now,
                name=name or email.split("@")[0].title(),
            )
            session.commit()
            users.accept_link(
                session, link.secret, password=password, name=name, now=self.clock.now
            )
            session.commit()
        return email

    def anonymous(self) -> TestClient:
        return TestClient(self.app, base_url=TESTSERVER, follow_redirects=False)

    def sign_in(self, email: str, password: str = PASSWORD) -> TestClient:
        """A fresh browser signed in as ``email`` through the real form."""
        client = self.anonymous()
        token = form_token(client, "/console/sign-in")
        answer = client.post(
            "/console/sign-in",
            data={"csrf": token, "email": email, "password": password, "next": "/console/"},
        )
        assert answer.status_code == 303, answer.text
        return client

    def client(self, role: Role | None) -> TestClient:
        """A browser with a person of ``role`` signed in (one person per role); None:
        signed out."""
        if role is None:
            return self.anonymous()
        if role not in self.made:
            self.made[role] = self.add_user(f"{role.value}@example.org", role)
        return self.sign_in(self.made[role])


@dataclass
class UsersCli:
    """`python main.py ...` through click's runner, on its own database."""

    config: Path
    runner: CliRunner

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(main, ["--config", str(self.config), *args])

    def runtime(self) -> Runtime:
        from bot.cli.context import AppContext

        return AppContext(self.config).runtime
