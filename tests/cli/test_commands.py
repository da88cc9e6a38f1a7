"""The command line, as volunteers and operators use it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main

ROOT = Path(__file__).parents[2]


def _commands(group, path=()):
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_every_command_explains_itself_with_help():
    runner = CliRunner()
    commands = [c for c in _commands(main) if c[0] != "sandbox"]
    assert ("posts", "add") in commands and ("run",) in commands
    for command in commands:
        result = runner.invoke(main, [*command, "--help"])
        assert result.exit_code == 0, command
        assert len(result.output.split("\n\n")[1].strip()) > 20, f"{command} has no help text"


def test_init_creates_config_a_key_and_the_database(tmp_path, monkeypatch, empty_database):
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "config.env.example", tmp_path / "config.env.example")
    result = CliRunner(env={"DATABASE_URL": empty_database}).invoke(main, ["init"])
    assert result.exit_code == 0, result.output
    config = (tmp_path / "config.env").read_text()
    assert "created config.env" in result.output and "database ready" in result.output
    key_line = next(
        line for line in config.splitlines() if line.startswith("TOKEN_ENCRYPTION_KEYS=")
    )
    assert len(key_line.split("=", 1)[1]) == 44
    web_key = next(line for line in config.splitlines() if line.startswith("WEB_SECRET_KEY="))
    assert len(web_key.split("=", 1)[1]) >= 40
    again = CliRunner(env={"DATABASE_URL": empty_database}).invoke(main, ["init"])
    assert again.exit_code == 0 and (tmp_path / "config.env").read_text() == config


def test_posts_add_queues_to_every_target_and_list_shows_it(with_accounts):
    cli = with_accounts
    result = cli(
        "posts",
        "add",
        "--in",
        "10m",
        "--id",
        "eve",
        "--campaign",
        "fujitsu",
        "Demo tomorrow 8:30 at Fujitsu HQ",
    )
    assert result.exit_code == 0, result.output
    assert "queued fujitsu/eve" in result.output and "x @union" in result.output
    [post] = cli.json("posts", "list")
    assert post["key"] == "eve" and post["status"] == "scheduled"
    assert sorted(d["platform"] for d in post["deliveries"]) == ["facebook", "x"]
    listed = cli("posts", "list")
    assert "fujitsu/eve" in listed.output and "scheduled" in listed.output


def test_several_texts_make_a_thread_on_x_and_one_post_on_facebook(with_accounts):
    post = with_accounts.json("posts", "add", "--in", "5m", "1/ Ballot result", "2/ 87% yes")
    assert post["parts"]["x"] == ["1/ Ballot result", "2/ 87% yes"]
    assert len(post["parts"]["facebook"]) == 1 and post["kind"] == "thread"


def test_a_time_in_the_past_is_refused_and_nothing_is_stored(with_accounts):
    result = with_accounts("posts", "add", "--at", "2020-01-01 10:00", "Too late")
    assert result.exit_code == 1
    assert "in the past" in result.output and "--now" in result.output
    assert with_accounts.json("posts", "list") == []


def test_a_bad_time_says_what_format_to_use(with_accounts):
    result = with_accounts("posts", "add", "--at", "next tuesday", "When?")
    assert result.exit_code == 2 and "--at" in result.output


def test_show_and_cancel_by_campaign_and_key(with_accounts):
    cli = with_accounts
    cli("posts", "add", "--in", "1h", "--id", "rally", "--to", "x", "Rally at noon")
    shown = cli("posts", "show", "general/rally")
    assert "Rally at noon" in shown.output and "pending" in shown.output
    cancelled = cli("posts", "cancel", "general/rally")
    assert "cancelled 1 pending delivery" in cancelled.output
    [post] = cli.json("posts", "list")
    assert post["status"] == "cancelled"
    assert cli("posts", "show", "general/nothing").exit_code == 1


def test_apply_names_file_line_field_and_value_and_stores_nothing(with_accounts, tmp_path):
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "demo.yaml").write_text(
        "campaign: demo\ntimezone: Europe/London\nposts:\n"
        "  - id: ok\n    at: 2030-01-01 10:00\n    to: [x]\n    text: Fine\n"
        "  - id: bad\n    at: 2030-01-01 11:00\n    to: [x:@nobody]\n    text: Hello\n"
    )
    result = with_accounts("apply")
    assert result.exit_code == 1
    assert "demo.yaml:10" in result.output and "to='x:@nobody'" in result.output
    assert with_accounts.json("posts", "list") == []


def test_apply_twice_creates_then_leaves_unchanged(with_accounts, tmp_path):
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "demo.yaml").write_text(
        "campaign: demo\ntimezone: Europe/London\nposts:\n"
        "  - id: ok\n    at: 2030-01-01 10:00\n    to: [x, facebook]\n    text: Fine\n"
    )
    dry = with_accounts("apply", "--dry-run")
    assert "1 post would be created" in dry.output and with_accounts.json("posts", "list") == []
    assert "1 post was created" in with_accounts("apply").output
    assert "1 post was unchanged" in with_accounts("apply").output
    assert len(with_accounts.json("deliveries", "list")) == 2


def test_no_command_output_ever_contains_a_token(with_accounts):
    cli = with_accounts
    cli("posts", "add", "--in", "5m", "Hello")
    outputs = [
        cli("accounts", "list").output,
        cli("accounts", "list", "--json").output,
        cli("deliveries", "list", "--json").output,
        cli("posts", "list", "--json").output,
        cli("config", "check").output,
    ]
    for output in outputs:
        assert "x-secret-token-123" not in output and "fb-secret-token-456" not in output


def test_config_check_masks_secrets_and_reports_ok(cli):
    cli.config.write_text(
        cli.config.read_text() + "X_CONSUMER_KEY=appkey\nX_CONSUMER_SECRET=verysecretconsumer99\n"
    )
    result = cli("config", "check")
    assert result.exit_code == 0, result.output
    assert "verysecretconsumer99" not in result.output and "configuration OK" in result.output
    assert cli.json("config", "check")["ok"] is True


def test_config_check_fails_on_a_missing_key(cli):
    cli.config.write_text(cli.config.read_text().replace("TOKEN_ENCRYPTION_KEYS=", "OLD_KEYS="))
    result = cli("config", "check")
    assert result.exit_code == 1 and "python main.py init" in result.output


def test_keys_rotate_keeps_every_token_readable(with_accounts):
    before = with_accounts.runtime()
    assert with_accounts("keys", "rotate").exit_code == 0
    after = with_accounts.runtime()
    assert after.settings.token_encryption_keys != before.settings.token_encryption_keys
    from sqlalchemy import select

    from bot.storage.models import Account

    with after.sessions() as session:
        tokens = {after.vault.open(a.credentials).token for a in session.scalars(select(Account))}
    assert tokens == {"x-secret-token-123", "fb-secret-token-456"}


def test_posts_add_refuses_an_id_that_already_exists(with_accounts):
    with_accounts("posts", "add", "--in", "1h", "--id", "rally", "--to", "x", "Rally at noon")
    again = with_accounts("posts", "add", "--in", "2h", "--id", "rally", "--to", "x", "Other")
    assert again.exit_code == 1 and "already exists" in again.output
    [post] = with_accounts.json("posts", "list")
    assert post["parts"]["x"] == ["Rally at noon"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--in", "99999999d"], "400 days"),
        (["--in", "soon"], "90s, 5m"),
        (["--in", "5m", "--link", "notaurl"], "--link"),
        (["--in", "5m", "--campaign", ""], "--campaign"),
        (["--in", "5m", "--campaign", "Has Spaces"], "--campaign"),
    ],
)
def test_posts_add_names_the_option_that_is_wrong(with_accounts, args, complaint):
    result = with_accounts("posts", "add", *args, "Text")
    assert result.exit_code == 2 and complaint in result.output
    assert with_accounts.json("posts", "list") == []


def test_keys_rotate_refuses_when_the_keys_come_from_the_environment(with_accounts, monkeypatch):
    monkeypatch.setenv(
        "TOKEN_ENCRYPTION_KEYS", with_accounts.runtime().settings.token_encryption_keys.reveal()
    )
    before = with_accounts.config.read_text()
    result = with_accounts("keys", "rotate")
    assert result.exit_code == 1 and "environment" in result.output
    assert with_accounts.config.read_text() == before


def test_a_rehearsal_refuses_a_database_holding_real_accounts(with_accounts):
    result = with_accounts("run", "--no-examples")
    assert result.exit_code == 1
    assert "real accounts" in result.output and "rehearsal" in result.output


def _pledge_and_post(tmp_path, post_target):
    schedules = tmp_path / "schedules"
    schedules.mkdir(exist_ok=True)
    (schedules / "both.yaml").write_text(
        "campaign: fujitsu\ntimezone: Europe/London\n"
        "pledge_campaigns:\n  - id: morning\n    title: Morning release\n"
        "    text: Stop the victimisation of union reps\n    goal: 5\n"
        "    release: 2030-01-01 08:30\n"
        f"posts:\n  - id: eve\n    at: 2030-01-01 07:00\n    to: [{post_target}]\n"
        "    text: Tomorrow at 8:30\n"
    )


def test_apply_stores_a_files_pledge_campaigns_with_its_posts(with_accounts, tmp_path):
    _pledge_and_post(tmp_path, "x")
    result = with_accounts("apply")
    assert result.exit_code == 0, result.output
    assert "1 pledge campaign was created: morning" in result.output
    assert [p["key"] for p in with_accounts.json("posts", "list")] == ["eve"]
    assert [c["slug"] for c in with_accounts.json("pledges", "list")] == ["morning"]


def test_apply_stores_neither_when_the_posts_are_wrong(with_accounts, tmp_path):
    _pledge_and_post(tmp_path, "x:@nobody")
    result = with_accounts("apply")
    assert result.exit_code == 1 and "x:@nobody" in result.output
    assert with_accounts.json("pledges", "list") == []
    assert with_accounts.json("posts", "list") == []


def test_keys_rotate_reseals_two_step_sign_in_secrets_under_the_new_key(with_accounts):
    from bot.people import users as people
    from bot.settings import Secret
    from bot.storage.models import User
    from bot.storage.vault import Vault

    before = with_accounts.runtime()
    with before.sessions() as session:
        user = User(email="ann@example.org", role="admin")
        session.add(user)
        setup = people.begin_totp(user, before.vault)
        session.commit()
    assert with_accounts("keys", "rotate").exit_code == 0
    newest = with_accounts.runtime().settings.token_encryption_keys.reveal().split(",")[0]
    with before.sessions() as session:
        sealed = session.query(User).filter_by(email="ann@example.org").one().totp_secret
    assert sealed is not None
    # The newest key alone opens it: the old key can be removed without losing 2FA.
    assert Vault(Secret(newest)).open(sealed).token == setup.secret


def test_keys_rotate_reseals_tokens_still_waiting_to_be_revoked(with_accounts):
    from datetime import UTC, datetime

    from bot.platforms.base import Credentials
    from bot.settings import Secret
    from bot.storage.models import TokenRevocation
    from bot.storage.vault import Vault

    before = with_accounts.runtime()
    now = datetime.now(UTC)
    with before.sessions() as session:
        session.add(
            TokenRevocation(
                platform="mastodon",
                credentials=before.vault.seal(Credentials(token="withdrawn-token-789")),
                queued_at=now,
                next_attempt_at=now,
            )
        )
        session.commit()
    assert with_accounts("keys", "rotate").exit_code == 0
    newest = with_accounts.runtime().settings.token_encryption_keys.reveal().split(",")[0]
    with before.sessions() as session:
        sealed = session.query(TokenRevocation).one().credentials
    assert Vault(Secret(newest)).open(sealed).token == "withdrawn-token-789"
