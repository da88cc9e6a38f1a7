"""Connecting the campaign's accounts, as a volunteer does it at a terminal."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.sandbox.testing import running_sandbox
from bot.storage.models import AuditEntry
from tests.support.processes import ROOT, clean_env, cli, cli_json, write_config


@pytest.fixture
def sandbox():
    with running_sandbox() as handle:
        yield handle


def test_connect_x_signs_in_with_a_pin_and_stores_the_account(tmp_path, empty_database, sandbox):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    command = subprocess.Popen(
        [sys.executable, "main.py", "--config", str(config), "accounts", "connect", "x"],
        cwd=ROOT,
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert command.stdout is not None and command.stdin is not None
    url = ""
    for line in command.stdout:
        if "/oauth/authorize?" in line:
            url = line.strip()
            break
    assert url.startswith(sandbox.url), url
    # the volunteer opens the address and approves as the campaign's account
    consent = requests.get(url, timeout=5)
    token = re.search(r'name="oauth_token" value="([^"]+)"', consent.text).group(1)
    approved = requests.post(
        url.split("?")[0],
        timeout=5,
        data={"oauth_token": token, "handle": "NurseUnion", "authorise": "1"},
    )
    pin = re.search(r'id="pin">(\d+)<', approved.text).group(1)
    output, _ = command.communicate(pin + "\n", timeout=30)
    assert command.returncode == 0, output
    assert "connected @NurseUnion" in output
    [account] = cli_json(config, "accounts", "list")
    assert (account["platform"], account["handle"], account["default"]) == ("x", "NurseUnion", True)


def test_connect_facebook_checks_the_page_token_before_storing_it(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    page = sandbox.admin.create_page("Hospital Workers United", followers=900)

    refused = cli(
        config,
        "accounts",
        "connect",
        "facebook",
        "--page-id",
        page["page_id"],
        "--token",
        "not-a-token",
        check=False,
    )
    assert refused.returncode == 1 and "Facebook refused the token" in refused.stderr
    assert "not-a-token" not in refused.stdout + refused.stderr
    cli(
        config,
        "accounts",
        "connect",
        "facebook",
        "--page-id",
        page["page_id"],
        "--token",
        page["page_token"],
    )
    [account] = cli_json(config, "accounts", "list")
    assert account["name"] == "Hospital Workers United" and account["followers"] == 900


def test_connecting_a_page_on_the_command_line_is_audited_without_its_token(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    page = sandbox.admin.create_page("Hospital Workers United", followers=900)
    connect = ("accounts", "connect", "facebook", "--page-id", page["page_id"])
    cli(config, *connect, "--token", page["page_token"])
    cli(config, *connect, "--token", page["page_token"])  # again: a reconnect

    engine = create_engine(empty_database)
    try:
        with Session(engine) as session:
            rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    finally:
        engine.dispose()
    assert [r.action for r in rows] == ["account.connect", "account.reconnect"]
    assert all(r.actor.startswith("cli:") for r in rows)
    assert rows[0].before is None and rows[0].after["platform_user_id"] == page["page_id"]
    assert rows[1].before == rows[0].after
    assert page["page_token"] not in repr([(r.before, r.after) for r in rows])


def test_connect_bluesky_asks_for_the_app_password_and_keeps_only_a_sealed_session(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    made = sandbox.admin.create_bluesky_account(
        "nurses-union", password="abcd-efgh-ijkl-mnop", followers=4200
    )
    command = [sys.executable, "main.py", "--config", str(config), "accounts", "connect"]
    wrong = subprocess.run(
        [*command, "bluesky", "--handle", made["handle"]],
        cwd=ROOT,
        env=clean_env(),
        input="wrong-wrong-wrong-wrong\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and "Bluesky refused the sign-in" in wrong.stderr
    done = subprocess.run(
        [*command, "bluesky", "--handle", "@" + made["handle"]],
        cwd=ROOT,
        env=clean_env(),
        input="abcd-efgh-ijkl-mnop\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "abcd-efgh-ijkl-mnop" not in done.stdout + done.stderr  # never echoed
    assert f"connected @{made['handle']}" in done.stdout
    [account] = cli_json(config, "accounts", "list")
    assert (account["platform"], account["platform_user_id"], account["followers"]) == (
        "bluesky",
        made["did"],
        4200,
    )
    engine = create_engine(empty_database)
    try:
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT credentials FROM accounts").scalar_one()
    finally:
        engine.dispose()
    assert "abcd-efgh-ijkl-mnop" not in stored and "did:plc" not in stored
    assert "access_token" not in stored  # the session is sealed, not written in plain


def test_connect_mastodon_registers_the_app_once_signs_in_and_stores_the_account(
    tmp_path, empty_database, sandbox
):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    sandbox.admin.mastodon_instance("nurses.social", max_characters=1000)
    sandbox.admin.create_mastodon_account("nurses.social", "NurseUnion", followers=700)

    def sign_in() -> str:
        command = subprocess.Popen(
            [
                sys.executable,
                "main.py",
                "--config",
                str(config),
                "accounts",
                "connect",
                "mastodon",
                "--instance",
                "Nurses.Social",
            ],
            cwd=ROOT,
            env=clean_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert command.stdout is not None and command.stdin is not None
        url = ""
        for line in command.stdout:
            if "/oauth/authorize?" in line:
                url = line.strip()
                break
        assert url.startswith(sandbox.url + "/_host/nurses.social/"), url
        assert "scope=read%3Aaccounts+read%3Astatuses+write%3Astatuses" in url
        shown = requests.post(
            url, data={"username": "NurseUnion", "decision": "approve"}, timeout=5
        )
        code = re.search(r"<code>([^<]+)</code>", shown.text).group(1)
        output, _ = command.communicate(code + "\n", timeout=30)
        assert command.returncode == 0, output
        return output

    output = sign_in()
    assert "connected @NurseUnion@nurses.social (posts up to 1000 characters there)" in output
    sign_in()  # again: the app registered the first time is reused, the account reconnected
    [account] = cli_json(config, "accounts", "list")
    assert (account["platform"], account["handle"], account["default"]) == (
        "mastodon",
        "NurseUnion@nurses.social",
        True,
    )
    engine = create_engine(empty_database)
    with Session(engine) as session:
        from bot.storage.models import MastodonApp

        [app] = session.scalars(select(MastodonApp)).all()
        assert app.server == "https://nurses.social"
        assert app.client_secret.startswith("gAAAAA")  # sealed (Fernet), never stored plain
        actions = [a.action for a in session.scalars(select(AuditEntry)).all()]
    assert actions == ["account.connect", "account.reconnect"]
    engine.dispose()


def test_connect_mastodon_names_a_server_that_is_not_one(tmp_path, empty_database, sandbox):
    config = write_config(tmp_path / "config.env", empty_database, sandbox.url)
    refused = cli(
        config, "accounts", "connect", "mastodon", "--instance", "not a server", check=False
    )
    assert refused.returncode == 2
    assert "is not a Mastodon server" in refused.stderr
